"""The operator's kopf side: indexes, the watch events that queue reconciles (triggers), and the
reconciles themselves, one module per kind, run by the runner. Importing this package
registers the kopf handlers."""

from ballast.handlers import indexes, network_policies, triggers  # noqa: F401
