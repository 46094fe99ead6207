"""Ballast's Python SDK: the four kinds as typed objects, and a client to create, watch and
wait on them. Needs only pydantic and the kubernetes client (pip install ballast-operator).

    from ballast.client import Client, Dataset, ObjectMeta, TrainingRun
    from ballast.api.dataset import DatasetSpec

    client = Client(namespace="ml")
    client.apply(Dataset(metadata=ObjectMeta(name="iris"), spec=DatasetSpec(...)))
    version = client.wait_for(ModelVersion, "iris-abc123", stage="Production", timeout=600)
"""

from ballast.api.objects import BallastObject, Dataset, DriftPolicy, ModelVersion, ObjectMeta, TrainingRun
from ballast.client.client import FIELD_MANAGER, Client, WatchEvent
from ballast.client.errors import (
    AlreadyExists,
    ApiError,
    BallastError,
    ConfigError,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    Unreachable,
    WaitFailed,
    WaitTimeout,
)
from ballast.reasons.modelversion import Stage

__all__ = [
    "FIELD_MANAGER",
    "AlreadyExists",
    "ApiError",
    "BallastError",
    "BallastObject",
    "Client",
    "ConfigError",
    "Conflict",
    "Dataset",
    "DriftPolicy",
    "Forbidden",
    "Invalid",
    "ModelVersion",
    "NotFound",
    "ObjectMeta",
    "Stage",
    "TrainingRun",
    "Unreachable",
    "WaitFailed",
    "WaitTimeout",
    "WatchEvent",
]
