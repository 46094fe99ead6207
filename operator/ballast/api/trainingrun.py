"""TrainingRun: one reproducible training attempt, and the record of what it used and produced."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field

from ballast.api.catalog import BLOCKWISE_ESTIMATORS, ESTIMATORS, FAIRNESS_METRICS, METRICS
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
from ballast.api.feature_steps import MAX_FEATURE_STEPS, FeatureStep
from ballast.api.modelversion import RolloutSpec, ServingSpec

MetricName = Literal[METRICS]  # type: ignore[valid-type]


class DatasetRef(ApiModel):
    """The Dataset a run trains on, and optionally which of its versions."""

    name: ResourceName
    """A Dataset in the same namespace."""
    version: Sha256 | None = None
    """Pin a version (its sha256); the newest valid version when left out."""


class FairnessGate(ApiModel):
    """Limits on how differently the model treats the groups of one column, measured on the test split."""

    sensitive_feature: str = Field(min_length=1, max_length=128)
    """The column whose groups are compared (it must be in the dataset's schema)."""
    max_demographic_parity_difference: Fraction | None = None
    """The largest gap allowed between groups' rates of positive predictions (0 to 1); unchecked when left out."""
    max_equal_opportunity_difference: Fraction | None = None
    """The largest gap allowed between groups' true positive rates (0 to 1); unchecked when left out."""


class Gates(ApiModel):
    """What a trained model must pass before a ModelVersion is registered; a failed gate fails the run."""

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
    """Fairness limits across the groups of one column; none when left out."""


class Evaluation(ApiModel):
    """How the trained model is measured and what it must reach."""

    test_fraction: OpenFraction = 0.2
    """The share of rows held out for testing (stratified for classification)."""
    primary_metric: MetricName | None = None
    """The metric that ranks models; accuracy for classifiers and rmse for regressors when left out."""
    gates: Gates | None = None
    """What the model must pass to be registered; no gates when left out."""


class ModelVersionTemplate(ApiModel):
    """How the ModelVersion this run produces is served and rolled out."""

    serving: ServingSpec | None = None
    """Copied into the ModelVersion's spec.serving; left out, the version is registered but not served."""
    rollout: RolloutSpec | None = None
    """Copied into the ModelVersion's spec.rollout: a canary through 10% and 50% when left out."""


DEFAULT_BLOCK_ROWS = 100_000
DEFAULT_EPOCHS = 5


class Compute(ApiModel):
    """Train blockwise on a distributed engine instead of in one pod: the snapshot's rows are cut
    into blocks that workers read, summarise and learn from one at a time, so no pod holds the data."""

    engine: Literal["dask"]
    """The engine: dask, run by the dask-kubernetes operator (a DaskJob per run), which the cluster
    must have installed."""
    workers: int = Field(default=2, ge=1, le=64)
    """How many Dask workers the run's cluster has."""
    worker_resources: ResourceRequirements | None = None
    """CPU and memory of each worker pod; the operator's defaults when left out."""
    block_rows: int = Field(default=DEFAULT_BLOCK_ROWS, ge=1_000, le=10_000_000)
    """Rows per block: what one worker holds at a time. With the data and the seed it decides the
    model, so the same three train the same bytes on any number of workers."""
    epochs: int = Field(default=DEFAULT_EPOCHS, ge=1, le=100)
    """How many times the estimator passes over every training block."""


class TrainingRunSpec(ApiModel):
    """One training attempt: the operator runs it as a Job, and registers a ModelVersion when the
    model passes its gates."""

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
                {
                    "rule": f"!has(self.compute) || self.estimator in {cel_list(BLOCKWISE_ESTIMATORS)}",
                    "message": "compute trains blockwise, which needs an estimator that learns a block at a time: "
                    + " or ".join(BLOCKWISE_ESTIMATORS),
                },
                {
                    "rule": "!has(self.compute) || (!has(self.image) && !has(self.featureSteps))",
                    "message": "compute runs Ballast's own image and standard preprocessing: "
                    "image and featureSteps may not be set with it",
                },
            ]
        }
    )

    model: ResourceName
    """The model this run trains a version of."""
    dataset_ref: DatasetRef
    """The Dataset to train on, in the same namespace; the version used is fixed at the first reconcile."""
    estimator: str = Field(min_length=1, max_length=256, pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")
    """A fully qualified estimator class from the allow-list."""
    params: dict[str, Any] | None = None
    """Hyperparameters, checked against the estimator before fitting."""
    feature_steps: list[FeatureStep] | None = Field(default=None, max_length=MAX_FEATURE_STEPS)
    """Feature steps from a closed set (scaling, log, clipping, bucketing, date parts, ratios), fitted
    and saved with the model so serving applies them too; Ballast's imputation and encoding only when
    left out."""
    seed: int = Field(default=0, ge=0, le=2**32 - 1)
    """The random seed of the split and the estimator: the same seed and data give the same model."""
    evaluation: Evaluation | None = None
    """The test split, the ranking metric and the gates; a 20% split and no gates when left out."""
    image: str | None = Field(default=None, max_length=512)
    """A custom trainer image; Ballast's own image when left out."""
    command: list[str] | None = Field(default=None, max_length=64)
    """The custom image's entrypoint (only with image); the image's own when left out."""
    resources: ResourceRequirements | None = None
    """CPU and memory of the training pod; the operator's defaults when left out."""
    compute: Compute | None = None
    """Train blockwise on a distributed engine; in one pod when left out."""
    backoff_limit: int = Field(default=1, ge=0, le=10)
    """How many times the training Job retries a failed pod before the run fails (a DaskJob's runner runs once)."""
    active_deadline_seconds: int = Field(default=3600, ge=1)
    """Seconds the training Job (or DaskJob, from status.startedAt) may run before it is stopped and the run fails."""
    model_version_template: ModelVersionTemplate | None = None
    """How the ModelVersion this run registers is served and rolled out."""


MUST_BEAT_CHAMPION = "mustBeatChampion"
"""The name of the gate that compares the model with the Production version (GateResult.name)."""


class GateResult(ApiModel):
    """One gate of spec.evaluation.gates and how the model did against it."""

    name: str = Field(max_length=128)
    """The gate: minimum/<metric>, fairness/<metric> or mustBeatChampion."""
    passed: bool
    """Whether the model passed it."""
    message: str = Field(default="", max_length=1024)
    """The measured value against the limit, in words."""


class Artifact(ApiModel):
    """The trained model file in the artifact store."""

    uri: Uri
    """Where model.skops is; metadata.json (lineage and metrics) lies beside it."""
    sha256: Sha256
    """The file's digest, which the ModelVersion verifies before loading it."""
    format: Literal["skops"] = "skops"
    """The serialisation: skops only, so that a model is never unpickled."""


class BlockwiseRecord(ApiModel):
    """How a run with spec.compute cut and passed over the data: with the data and the seed, these
    decide the model's bytes, on any number of workers."""

    block_rows: int = Field(ge=1)
    """Rows per block (spec.compute.blockRows)."""
    epochs: int = Field(ge=1)
    """Passes over every training block (spec.compute.epochs)."""


class Reproducibility(ApiModel):
    """Everything needed to train the same model again."""

    image: str | None = Field(default=None, max_length=512)
    """The training pod's image, as the Job named it."""
    image_digest: str | None = Field(default=None, max_length=128)
    """The image's digest (sha256:...), when the operator could resolve it."""
    python_version: str | None = Field(default=None, max_length=32)
    """The Python version that fitted the model."""
    packages: dict[str, str] | None = Field(default=None, max_length=64)
    """Package name to version, for the packages whose versions decide the fitted model's bytes."""
    seed: int | None = None
    """The random seed used (spec.seed)."""
    dataset_sha256: Sha256 | None = None
    """The dataset version trained on."""
    dataset_profile_sha256: Sha256 | None = None
    """The sha256 of the dataset version's profile.json (its drift bins) the run was given."""
    dataset_metadata_sha256: Sha256 | None = None
    """The sha256 of the dataset version's metadata.json the run read."""
    code_version: str | None = Field(default=None, max_length=64)
    """The version of Ballast's training code (its release, or the commit the image was built from)."""
    blockwise: BlockwiseRecord | None = None
    """The block size and epochs of a run trained blockwise on a distributed engine (spec.compute)."""


class TrainingRunStatus(StatusBase):
    """What the run used and produced, written by the operator from the training pod's result."""

    dataset_version: Sha256 | None = None
    """The dataset version resolved at the first reconcile; it never changes afterwards."""
    dataset_version_short: str | None = Field(default=None, max_length=12)
    """Its first 12 hex digits, for `kubectl get` (like a short git commit id)."""
    dataset_snapshot_uri: str | None = Field(default=None, max_length=2048)
    """The copy of that version's content the training pod reads: data.parquet, or the data/ folder of
    Parquet parts of a partitioned source."""
    dataset_profile_sha256: Sha256 | None = None
    """The sha256 of the version's profile.json when the run was pinned: other bytes are refused later."""
    dataset_metadata_sha256: Sha256 | None = None
    """The sha256 of the version's metadata.json when the run was pinned."""
    champion: str | None = Field(default=None, max_length=253)
    """The Production ModelVersion this run was compared with, when mustBeatChampion is set."""
    job_name: str | None = Field(default=None, max_length=63)
    """The training Job in the run's namespace, or its DaskJob (kubernetes.dask.org) when spec.compute is set."""
    started_at: datetime | None = None
    """When the operator created the training Job (or DaskJob); a DaskJob's deadline counts from it."""
    completed_at: datetime | None = None
    """When the run ended, passed or failed."""
    metrics: dict[str, float] | None = Field(default=None, max_length=len(METRICS) + len(FAIRNESS_METRICS))
    """Metric name to its value on the test split, at full precision (fairness metrics included when gated)."""
    key_metric: NamedValue | None = None
    """The primary metric and its value rounded to 4 significant digits, for `kubectl get`."""
    params: dict[str, Any] | None = None
    """The estimator's full parameters as fitted, defaults included."""
    gates: list[GateResult] | None = Field(default=None, max_length=32)
    """Each gate and whether the model passed it."""
    artifact: Artifact | None = None
    """The trained model file; present whether or not the gates passed."""
    model_version: str | None = Field(default=None, max_length=253)
    """The ModelVersion this run produced."""
    reproducibility: Reproducibility | None = None
    """What is needed to train the same model again."""
