"""TrainingRun: one reproducible training attempt, and the record of what it used and produced."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field

from ballast.api.catalog import ESTIMATORS, FAIRNESS_METRICS, METRICS
from ballast.api.common import (
    ApiModel,
    Fraction,
    NamedValue,
    OpenFraction,
    ResourceName,
    ResourceRequirements,
    Sha256,
    StatusBase,
    Uri,
    cel_list,
)
from ballast.api.modelversion import RolloutSpec, ServingSpec

MetricName = Literal[METRICS]  # type: ignore[valid-type]


class DatasetRef(ApiModel):
    name: ResourceName
    """A Dataset in the same namespace."""
    version: Sha256 | None = None
    """Pin a version (its sha256); the newest valid version when left out."""


class FairnessGate(ApiModel):
    sensitive_feature: str = Field(min_length=1, max_length=128)
    """The column whose groups are compared (it must be in the dataset's schema)."""
    max_demographic_parity_difference: Fraction | None = None
    max_equal_opportunity_difference: Fraction | None = None


class Gates(ApiModel):
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": f"!has(self.minimums) || self.minimums.all(m, m in {cel_list(METRICS)})",
                    "message": f"gates.minimums keys must be metric names: {', '.join(METRICS)}",
                }
            ]
        }
    )

    minimums: dict[str, float] | None = Field(default=None, max_length=len(METRICS))
    """Metric name to the value the model must reach (at most, for rmse, mae and log_loss)."""
    must_beat_champion: bool = False
    """Pass only if this run beats the model's current Production version on this run's test split."""
    fairness: FairnessGate | None = None


class Evaluation(ApiModel):
    test_fraction: OpenFraction = 0.2
    """The share of rows held out for testing (stratified for classification)."""
    primary_metric: MetricName | None = None
    """The metric that ranks models; accuracy for classifiers and rmse for regressors when left out."""
    gates: Gates | None = None


class ModelVersionTemplate(ApiModel):
    """How the ModelVersion this run produces is served and rolled out."""

    serving: ServingSpec | None = None
    rollout: RolloutSpec | None = None


class TrainingRunSpec(ApiModel):
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": f"has(self.image) || self.estimator in {cel_list(list(ESTIMATORS))}",
                    "message": "estimator must be one of Ballast's allow-listed estimators "
                    "(for example sklearn.ensemble.RandomForestClassifier) unless a custom image is set",
                },
                {
                    "rule": "!has(self.command) || has(self.image)",
                    "message": "command may only be set together with a custom image",
                },
            ]
        }
    )

    model: ResourceName
    """The model this run trains a version of."""
    dataset_ref: DatasetRef
    estimator: str = Field(min_length=1, max_length=256, pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")
    """A fully qualified estimator class from the allow-list."""
    params: dict[str, Any] | None = None
    """Hyperparameters, checked against the estimator before fitting."""
    seed: int = Field(default=0, ge=0, le=2**32 - 1)
    evaluation: Evaluation | None = None
    image: str | None = Field(default=None, max_length=512)
    """A custom trainer image; Ballast's own image when left out."""
    command: list[str] | None = Field(default=None, max_length=64)
    resources: ResourceRequirements | None = None
    backoff_limit: int = Field(default=1, ge=0, le=10)
    active_deadline_seconds: int = Field(default=3600, ge=1)
    model_version_template: ModelVersionTemplate | None = None


class GateResult(ApiModel):
    name: str = Field(max_length=128)
    passed: bool
    message: str = Field(default="", max_length=1024)


class Artifact(ApiModel):
    uri: Uri
    sha256: Sha256
    format: Literal["skops"] = "skops"


class Reproducibility(ApiModel):
    """Everything needed to train the same model again."""

    image: str | None = Field(default=None, max_length=512)
    image_digest: str | None = Field(default=None, max_length=128)
    python_version: str | None = Field(default=None, max_length=32)
    packages: dict[str, str] | None = Field(default=None, max_length=64)
    seed: int | None = None
    dataset_sha256: Sha256 | None = None
    dataset_profile_sha256: Sha256 | None = None
    """The sha256 of the dataset version's profile.json (its drift bins) the run was given."""
    dataset_metadata_sha256: Sha256 | None = None
    """The sha256 of the dataset version's metadata.json the run read."""
    code_version: str | None = Field(default=None, max_length=64)


class TrainingRunStatus(StatusBase):
    dataset_version: Sha256 | None = None
    """The dataset version resolved at the first reconcile; it never changes afterwards."""
    dataset_version_short: str | None = Field(default=None, max_length=12)
    """Its first 12 hex digits, for `kubectl get` (like a short git commit id)."""
    dataset_snapshot_uri: str | None = Field(default=None, max_length=2048)
    dataset_profile_sha256: Sha256 | None = None
    """The sha256 of the version's profile.json when the run was pinned: other bytes are refused later."""
    dataset_metadata_sha256: Sha256 | None = None
    """The sha256 of the version's metadata.json when the run was pinned."""
    champion: str | None = Field(default=None, max_length=253)
    """The Production ModelVersion this run was compared with, when mustBeatChampion is set."""
    job_name: str | None = Field(default=None, max_length=63)
    started_at: datetime | None = None
    completed_at: datetime | None = None
    metrics: dict[str, float] | None = Field(default=None, max_length=len(METRICS) + len(FAIRNESS_METRICS))
    key_metric: NamedValue | None = None
    params: dict[str, Any] | None = None
    """The estimator's full parameters as fitted, defaults included."""
    gates: list[GateResult] | None = Field(default=None, max_length=32)
    artifact: Artifact | None = None
    model_version: str | None = Field(default=None, max_length=253)
    """The ModelVersion this run produced."""
    reproducibility: Reproducibility | None = None
