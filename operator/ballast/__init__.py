"""Ballast: a Kubernetes operator for the whole lifecycle of machine-learning models."""

__version__ = "0.1.0"
