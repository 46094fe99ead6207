"""Whole objects of the four kinds (apiVersion, kind, metadata, spec, status), for the SDK.

The CRDs are generated from the spec and status models alone; these wrap them into what the
API server stores, so that Python code builds and reads objects as typed values, not YAML.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Generic, Literal, TypeVar

from pydantic import ConfigDict

from ballast.api.common import ApiModel
from ballast.api.dataset import DatasetSpec, DatasetStatus
from ballast.api.driftpolicy import DriftPolicySpec, DriftPolicyStatus
from ballast.api.kinds import API_VERSION, DATASET, DRIFT_POLICY, MODEL_VERSION, TRAINING_RUN, KindInfo
from ballast.api.modelversion import ModelVersionSpec, ModelVersionStatus
from ballast.api.trainingrun import TrainingRunSpec, TrainingRunStatus


class ObjectMeta(ApiModel):
    """The part of metav1.ObjectMeta a user sets or reads; the rest (managedFields, ...) is dropped."""

    # the API server adds fields that the SDK has no use for; they are ignored, not refused
    model_config = ConfigDict(extra="ignore")

    name: str
    namespace: str | None = None
    """None: the client's namespace (the kubeconfig context's)."""
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    # set by the API server; never sent by apply
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    creation_timestamp: datetime | None = None
    deletion_timestamp: datetime | None = None

    def for_apply(self, namespace: str) -> dict[str, Any]:
        """What a user declares: name, namespace, labels and annotations."""
        declared = {"name": self.name, "namespace": self.namespace or namespace}
        return declared | {k: v for k, v in (("labels", self.labels), ("annotations", self.annotations)) if v}


SpecT = TypeVar("SpecT", bound=ApiModel)
StatusT = TypeVar("StatusT", bound=ApiModel)


class BallastObject(ApiModel, Generic[SpecT, StatusT]):
    """One object of a Ballast kind. Subclasses fix the kind, the spec and the status type."""

    info: ClassVar[KindInfo]

    api_version: str = API_VERSION
    metadata: ObjectMeta
    spec: SpecT
    status: StatusT | None = None

    @property
    def name(self) -> str:
        return self.metadata.name

    def for_apply(self, namespace: str) -> dict[str, Any]:
        """The manifest server-side apply sends: spec as the user declared it (unset fields left to
        the API server's defaults), no status, no server-set metadata."""
        return {
            "apiVersion": self.api_version,
            "kind": self.info.kind,
            "metadata": self.metadata.for_apply(namespace),
            "spec": self.spec.model_dump(by_alias=True, exclude_unset=True, exclude_none=True, mode="json"),
        }


class Dataset(BallastObject[DatasetSpec, DatasetStatus]):
    info: ClassVar[KindInfo] = DATASET
    kind: Literal["Dataset"] = "Dataset"


class TrainingRun(BallastObject[TrainingRunSpec, TrainingRunStatus]):
    info: ClassVar[KindInfo] = TRAINING_RUN
    kind: Literal["TrainingRun"] = "TrainingRun"


class ModelVersion(BallastObject[ModelVersionSpec, ModelVersionStatus]):
    info: ClassVar[KindInfo] = MODEL_VERSION
    kind: Literal["ModelVersion"] = "ModelVersion"


class DriftPolicy(BallastObject[DriftPolicySpec, DriftPolicyStatus]):
    info: ClassVar[KindInfo] = DRIFT_POLICY
    kind: Literal["DriftPolicy"] = "DriftPolicy"


OBJECT_TYPES: tuple[type[BallastObject[Any, Any]], ...] = (Dataset, TrainingRun, ModelVersion, DriftPolicy)


__all__ = ["OBJECT_TYPES", "BallastObject", "Dataset", "DriftPolicy", "ModelVersion", "ObjectMeta", "TrainingRun"]
