"""ModelVersion: an immutable registry entry and, when served, its rollout."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from ballast.api.common import (
    ApiModel,
    Duration,
    Fraction,
    NamedValue,
    ResourceName,
    ResourceRequirements,
    Sha256,
    StatusBase,
    Uri,
)
from ballast.reasons.modelversion import CanaryVerdict, Stage


class ModelArtifact(ApiModel):
    uri: Uri
    """Where the model file is, in the artifact store."""
    sha256: Sha256
    """The file's digest, verified before the model is ever loaded."""
    format: Literal["skops"] = "skops"
    """skops only: Ballast never unpickles a model."""


class DatasetVersionRef(ApiModel):
    name: ResourceName
    version: Sha256


class ModelSource(ApiModel):
    """Lineage: where the model came from; empty for externally trained models."""

    training_run: ResourceName | None = None
    dataset: DatasetVersionRef | None = None


class ServingSpec(ApiModel):
    enabled: bool = True
    replicas: int = Field(default=1, ge=0, le=100)
    resources: ResourceRequirements | None = None


class RolloutLimits(ApiModel):
    """A canary that breaks any of these during analysis is rolled back."""

    max_error_rate: Fraction | None = None
    max_p99_latency_ms: float | None = Field(default=None, gt=0)
    max_drift_score: float | None = Field(default=None, ge=0)
    min_accuracy: Fraction | None = None


# No class docstring: pydantic would copy it into the CRD in place of the field's own description.
class RolloutStrategy(StrEnum):
    CANARY = "Canary"
    IMMEDIATE = "Immediate"


class RolloutSpec(ApiModel):
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.steps) || self.steps.isSorted()",
                    "message": "rollout.steps must be in increasing order",
                },
                {
                    "rule": "!has(self.steps) || self.steps.all(s, self.steps.filter(t, t == s).size() == 1)",
                    "message": "rollout.steps must not repeat a percentage",
                },
            ]
        }
    )

    strategy: RolloutStrategy = RolloutStrategy.CANARY
    steps: list[Annotated[int, Field(ge=1, le=100)]] = Field(default=[10, 50], min_length=1, max_length=10)
    """Traffic percentages the canary goes through (for example [10, 50]) before it is promoted."""
    analysis_interval: Duration = "1m"
    """How long each step runs before its metrics are judged."""
    limits: RolloutLimits | None = None
    auto_promote: bool = True
    """Promote after the last step by itself; when false, wait at the last step until approved."""
    approved: bool = False
    """With autoPromote false: set to true (by kubectl patch or a commit in Git) to promote a
    canary that passed every step. Who set it, and when, is recorded in status.approval."""


class ModelVersionSpec(ApiModel):
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": "self.model == oldSelf.model", "message": "model is immutable"},
                {
                    "rule": "self.artifact == oldSelf.artifact",
                    "message": "artifact is immutable: register a new ModelVersion instead",
                },
            ]
        }
    )

    model: ResourceName
    """The model this is a version of; versions of one model share one Service."""
    artifact: ModelArtifact
    source: ModelSource | None = None
    serving: ServingSpec | None = None
    rollout: RolloutSpec | None = None


class AnalysisCheck(ApiModel):
    name: str = Field(max_length=64)
    value: float | None = None
    limit: float | None = None
    passed: bool


class CanaryAnalysis(ApiModel):
    time: datetime
    step: int = Field(ge=0)
    verdict: CanaryVerdict
    message: str = Field(default="", max_length=2048)
    checks: list[AnalysisCheck] | None = Field(default=None, max_length=16)


class CanaryState(ApiModel):
    step: int = Field(ge=0)
    """Index into spec.rollout.steps."""
    step_started_at: datetime
    canary_start: dict[str, Any] | None = None
    """The canary's counters when the step began (the window's start)."""
    production_start: dict[str, Any] | None = None
    production: str | None = Field(default=None, max_length=253)
    """The Production version this canary is compared with."""
    passed_all_steps: bool | None = None
    """Every step passed; with autoPromote false the canary now waits for approval."""


class Approval(ApiModel):
    by: str = Field(max_length=256)
    """The field manager that set spec.rollout.approved (kubectl-patch, argocd-controller, ...)."""
    at: datetime


class ModelVersionStatus(StatusBase):
    stage: Stage | None = None
    traffic_percent: int | None = Field(default=None, ge=0, le=100)
    endpoint: str | None = Field(default=None, max_length=512)
    """The model's stable inference URL (its Service)."""
    metrics: dict[str, float] | None = Field(default=None, max_length=32)
    """Offline metrics from training."""
    key_metric: NamedValue | None = None
    deployment_name: str | None = Field(default=None, max_length=253)
    promoted_at: datetime | None = None
    """When this version became Production; the newest promotion wins."""
    superseded_at: datetime | None = None
    replicas: int | None = Field(default=None, ge=0)
    """Serving replicas the operator wants for this version now."""
    ready_replicas: int | None = Field(default=None, ge=0)
    rollback_reason: str | None = Field(default=None, max_length=2048)
    canary: CanaryState | None = None
    analysis: CanaryAnalysis | None = None
    """The last canary analysis: each metric, its value and its limit."""
    approval: Approval | None = None
