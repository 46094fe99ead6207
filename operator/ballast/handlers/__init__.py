"""Thin kopf handlers, one module per kind. Importing this package registers them all."""

from ballast.handlers import dataset, driftpolicy, indexes, modelversion, network_policies, trainingrun  # noqa: F401
