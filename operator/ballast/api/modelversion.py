"""ModelVersion: an immutable registry entry and, when served, its rollout."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, model_validator

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
    """The model file: where it is and the digest it must have."""

    uri: Uri
    """Where the model file is, in the artifact store."""
    sha256: Sha256
    """The file's digest, verified before the model is ever loaded."""
    format: Literal["skops"] = "skops"
    """skops only: Ballast never unpickles a model."""


class DatasetVersionRef(ApiModel):
    """One version of a Dataset."""

    name: ResourceName
    """The Dataset, in the same namespace."""
    version: Sha256
    """The version's sha256, as the Dataset's status.versions lists it."""


class ModelSource(ApiModel):
    """Lineage: where the model came from; empty for externally trained models."""

    training_run: ResourceName | None = None
    """The TrainingRun that produced the model, in the same namespace."""
    dataset: DatasetVersionRef | None = None
    """The dataset version the model was trained on; drift is measured against it."""


class AutoscalingSpec(ApiModel):
    """A HorizontalPodAutoscaler in charge of the Production version's replicas."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self.minReplicas <= self.maxReplicas",
                    "message": "autoscaling.minReplicas must not exceed autoscaling.maxReplicas",
                    "fieldPath": ".minReplicas",
                },
            ]
        }
    )

    min_replicas: int = Field(default=1, ge=1, le=100)
    """The fewest model server pods the autoscaler keeps, however idle."""
    max_replicas: int = Field(ge=1, le=100)
    """The most model server pods the autoscaler may start, however busy."""
    target_cpu_utilization: int = Field(default=80, ge=1, le=1000)
    """The average CPU use of the pods the autoscaler aims for, in percent of each pod's CPU
    request (serving.resources.requests.cpu, or the operator's default request)."""
    scale_down_stabilization_seconds: int = Field(default=300, ge=0, le=3600)
    """How long the load must have stayed low before the autoscaler removes pods: it takes the
    highest recommendation of this window (the HorizontalPodAutoscaler's own default is 300)."""

    @model_validator(mode="after")
    def _bounds_in_order(self) -> AutoscalingSpec:
        # the same rule the API server's CEL validation applies, for objects parsed elsewhere
        if self.min_replicas > self.max_replicas:
            raise ValueError("autoscaling.minReplicas must not exceed autoscaling.maxReplicas")
        return self


class ServingSpec(ApiModel):
    """Whether and how the operator serves this version (a Deployment behind the model's Service)."""

    enabled: bool = True
    """Serve this version; when false it stays a registry entry only."""
    replicas: int = Field(default=1, ge=0, le=100)
    """Model server pods while the version is in Production; a canary gets as many as its traffic
    share of Production's ready pods needs (traffic splits by replica count behind one Service)."""
    resources: ResourceRequirements | None = None
    """CPU and memory of each model server pod; the operator's defaults when left out."""
    autoscaling: AutoscalingSpec | None = None
    """Scale the Production version between minReplicas and maxReplicas with the load, in place of
    `replicas`; a canary keeps following Production's ready pods. Removing it removes the autoscaler."""


class RolloutLimits(ApiModel):
    """A canary that breaks any of these during analysis is rolled back."""

    max_error_rate: Fraction | None = None
    """The largest share of the canary's requests in a step that may fail with a server error (0 to 1);
    when left out, 0.01 or Production's own rate in the same window plus 0.01, whichever is larger."""
    max_p99_latency_ms: float | None = Field(default=None, gt=0)
    """The slowest 99th percentile latency allowed in a step, in milliseconds; unchecked when left out."""
    max_drift_score: float | None = Field(default=None, ge=0)
    """Accepted but not yet checked by the canary analysis; a DriftPolicy watches drift instead."""
    min_accuracy: Fraction | None = None
    """The lowest accuracy allowed on the labels fed back for the canary's predictions in a step
    (judged once 20 labels arrived); when left out, Production's accuracy in the same window less 0.05."""


# No class docstring: pydantic would copy it into the CRD in place of the field's own description.
class RolloutStrategy(StrEnum):
    CANARY = "Canary"
    IMMEDIATE = "Immediate"


class RolloutSpec(ApiModel):
    """How a served version replaces the model's Production version."""

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
    """Canary: a share of traffic step by step, judged at each step; Immediate: all traffic at once."""
    steps: list[Annotated[int, Field(ge=1, le=100)]] = Field(default=[10, 50], min_length=1, max_length=10)
    """Traffic percentages the canary goes through (for example [10, 50]) before it is promoted."""
    analysis_interval: Duration = "1m"
    """How long each step runs before its metrics are judged."""
    limits: RolloutLimits | None = None
    """What a canary must stay within at every step; each limit left out has the default it names."""
    auto_promote: bool = True
    """Promote after the last step by itself; when false, wait at the last step until approved."""
    approved: bool = False
    """With autoPromote false: set to true (by kubectl patch or a commit in Git) to promote a
    canary that passed every step. Who set it, and when, is recorded in status.approval."""


class ModelVersionSpec(ApiModel):
    """An immutable registry entry for one trained model, and how it is served and rolled out."""

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
    """The model file; immutable: a new model is a new ModelVersion."""
    source: ModelSource | None = None
    """Lineage; the operator fills it for versions a TrainingRun registers."""
    serving: ServingSpec | None = None
    """How the version is served. Left out, the version is only registered: no Deployment serves it."""
    rollout: RolloutSpec | None = None
    """How the version replaces Production; a canary through 10% and 50% when left out. The first
    version of a model goes to Production as soon as its pods are ready."""


class AnalysisCheck(ApiModel):
    """One measurement of the canary over the step, against its limit."""

    name: str = Field(max_length=64)
    """What was measured: errorRate, p99LatencyMs or accuracy."""
    value: float | None = None
    """What the canary measured; absent when there was nothing to measure."""
    limit: float | None = None
    """The limit it was judged against: spec.rollout.limits' value or the default derived from Production."""
    passed: bool
    """Whether the value was within the limit."""


class CanaryAnalysis(ApiModel):
    """The judgement of one canary step."""

    time: datetime
    """When the step was judged."""
    step: int = Field(ge=0)
    """Index into spec.rollout.steps of the step judged."""
    verdict: CanaryVerdict
    """Pass, Fail (the canary is rolled back) or NotEnoughData (the step waits for more requests)."""
    message: str = Field(default="", max_length=2048)
    """The verdict in words."""
    checks: list[AnalysisCheck] | None = Field(default=None, max_length=16)
    """Each check (errorRate, p99LatencyMs, accuracy), its measured value and whether it passed."""


class CanaryState(ApiModel):
    """Where a running canary stands."""

    step: int = Field(ge=0)
    """Index into spec.rollout.steps."""
    step_started_at: datetime
    """When the current step began; it is judged spec.rollout.analysisInterval later."""
    canary_start: dict[str, Any] | None = None
    """The canary's counters when the step began (the window's start)."""
    production_start: dict[str, Any] | None = None
    """The Production version's counters when the step began, to compare the two over the same window."""
    production: str | None = Field(default=None, max_length=253)
    """The Production version this canary is compared with."""
    passed_all_steps: bool | None = None
    """Every step passed; with autoPromote false the canary now waits for approval."""


class Approval(ApiModel):
    """Who approved the promotion, and when."""

    by: str = Field(max_length=256)
    """The field manager that set spec.rollout.approved (kubectl-patch, argocd-controller, ...)."""
    at: datetime
    """When spec.rollout.approved was seen set."""
    user: str | None = Field(default=None, max_length=256)
    """The user named by the annotation ballast.dev/approved-by (`kubectl ballast approve` writes
    the name the API server authenticated); where the chart's admission policy is in force it
    can name no one but the user who made the request."""


class ModelVersionStatus(StatusBase):
    """Where the version is in its model's lifecycle and how its serving goes, written by the operator."""

    stage: Stage | None = None
    """Candidate, Canary, Production, Superseded, RolledBack or Failed."""
    traffic_percent: int | None = Field(default=None, ge=0, le=100)
    """The percent of the model's requests this version receives now."""
    endpoint: str | None = Field(default=None, max_length=512)
    """The model's stable inference URL (its Service)."""
    metrics: dict[str, float] | None = Field(default=None, max_length=32)
    """Offline metrics from training."""
    key_metric: NamedValue | None = None
    """The primary metric and its value rounded to 4 significant digits, for `kubectl get`."""
    deployment_name: str | None = Field(default=None, max_length=253)
    """The Deployment that serves this version, in the same namespace."""
    promoted_at: datetime | None = None
    """When this version became Production; the newest promotion wins."""
    superseded_at: datetime | None = None
    """When a newer version replaced this one in Production."""
    replicas: int | None = Field(default=None, ge=0)
    """Serving replicas the operator wants for this version now."""
    ready_replicas: int | None = Field(default=None, ge=0)
    """Serving pods that are ready, from the Deployment's status."""
    rollback_reason: str | None = Field(default=None, max_length=2048)
    """Why the canary was rolled back: the check that failed and its value."""
    canary: CanaryState | None = None
    """The running canary; absent outside stage Canary."""
    analysis: CanaryAnalysis | None = None
    """The last canary analysis: each metric, its value and its limit."""
    approval: Approval | None = None
    """Who set spec.rollout.approved and when; absent until it is set."""
