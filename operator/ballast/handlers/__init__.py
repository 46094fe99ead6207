"""Thin kopf handlers, one module per kind. Importing this package registers them all."""

from ballast.handlers import dataset, driftpolicy, indexes, modelversion, trainingrun  # noqa: F401
