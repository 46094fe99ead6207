"""Thin kopf handlers, one module per kind. Importing this package registers them all."""

from ballast.handlers import dataset, driftpolicy, modelversion, trainingrun  # noqa: F401
