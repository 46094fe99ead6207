"""DriftPolicy: what behaving well means for one model, and what to do when it stops."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import ConfigDict, Field

from ballast.api.common import ApiModel, Duration, Fraction, ResourceName, StatusBase
from ballast.api.trainingrun import TrainingRunSpec
from ballast.reasons.driftpolicy import Check, FiringOutcome, Verdict

NumericMethod = Literal["psi", "jensenShannon", "wasserstein", "ks"]
CategoricalMethod = Literal["psi", "jensenShannon", "chiSquare"]
DriftMethod = Literal["psi", "jensenShannon", "chiSquare", "ks", "wasserstein"]
MIN_INTERVAL_SECONDS = 2
"""The shortest `interval` the API accepts; the operator also floors older objects to its own
minimum (settings.drift_min_interval_seconds, this by default)."""


# No class docstring: pydantic would copy it into the CRD in place of the field's own description.
class Promotion(StrEnum):
    AUTO = "auto"
    MANUAL = "manual"


class FeatureDriftCheck(ApiModel):
    enabled: bool = True
    numeric_method: NumericMethod = "psi"
    categorical_method: CategoricalMethod = "psi"
    threshold: float | None = Field(default=None, gt=0)
    """When one feature counts as drifted: a score above it (psi, jensenShannon, wasserstein), or
    a p-value below it (ks, chiSquare); the method's usual default when left out (docs/drift.md)."""
    drifted_share: Fraction = 0.5
    """The share of features that must drift for the check to fire."""
    features: list[str] | None = Field(default=None, max_length=256)
    """Only these features; every feature of the model when left out."""


class PredictionDriftCheck(ApiModel):
    enabled: bool = True
    method: DriftMethod = "psi"
    threshold: float | None = Field(default=None, gt=0)


class IntegrityCheck(ApiModel):
    enabled: bool = True
    max_null_rate: Fraction = 0.05
    """The largest share of missing values beyond the training data's own share."""
    max_out_of_range_rate: Fraction = 0.05
    max_unseen_category_rate: Fraction = 0.05


class AccuracyCheck(ApiModel):
    """Accuracy measured from the true labels sent to the model server's feedback endpoint."""

    enabled: bool = True
    min_accuracy: Fraction | None = None
    max_drop: Fraction | None = 0.05
    """The largest drop from the offline accuracy of training that is still acceptable."""
    min_labels: int = Field(default=100, ge=1)


class EstimatedAccuracyCheck(ApiModel):
    """Accuracy estimated without labels from the predicted probabilities (confidence-based)."""

    enabled: bool = False
    max_drop: Fraction = 0.05


class DriftChecks(ApiModel):
    """A check left out runs with its defaults; `enabled: false` turns it off. Feature drift,
    prediction drift, integrity and accuracy are on by default, the estimate without labels is not."""

    feature_drift: FeatureDriftCheck | None = None
    prediction_drift: PredictionDriftCheck | None = None
    integrity: IntegrityCheck | None = None
    accuracy: AccuracyCheck | None = None
    estimated_accuracy: EstimatedAccuracyCheck | None = None


class DriftWindow(ApiModel):
    min_samples: int = Field(default=500, ge=1)
    """Fewer predictions than this in the window means not enough data, never no drift."""
    period: Duration = "1h"


class MetricsSource(ApiModel):
    prometheus_url: str | None = Field(default=None, max_length=2048, pattern=r"^https?://.+$")
    """Query this Prometheus server instead of scraping the serving pods directly."""


class TrainingRunTemplateMetadata(ApiModel):
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


class TrainingRunTemplate(ApiModel):
    """Like a CronJob's jobTemplate: the TrainingRun a firing creates."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.spec.datasetRef.version)",
                    "message": "a retrain template trains on the newest valid dataset version: "
                    "leave spec.datasetRef.version out",
                }
            ]
        }
    )

    metadata: TrainingRunTemplateMetadata | None = None
    spec: TrainingRunSpec


class RetrainAction(ApiModel):
    """A firing creates a TrainingRun from the template, pinned to the Dataset's newest valid
    version, with mustBeatChampion forced on: a retrained model that does not beat the Production
    version on the new data is never rolled out. Retraining waits while the newest version is the
    one the Production version was trained on (the same data would give the same model)."""

    template: TrainingRunTemplate
    promotion: Promotion = Promotion.AUTO
    """auto: the new version goes through its canary by itself; manual: it waits for approval."""
    max_per_day: int = Field(default=3, ge=1, le=100)


class DriftAction(ApiModel):
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self.type != 'retrain' || has(self.retrain)",
                    "message": "action.type retrain needs action.retrain with a TrainingRun template",
                }
            ]
        }
    )

    type: Literal["retrain", "notify"] = "notify"
    retrain: RetrainAction | None = None


class DriftPolicySpec(ApiModel):
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.action) || !has(self.action.retrain) "
                    "|| self.action.retrain.template.spec.model == self.model",
                    "message": "action.retrain.template.spec.model must be the policy's model",
                },
                {
                    # duration() fails on a number too large for it (CEL's durations end at ~290 years): such
                    # intervals are long anyway, so only numbers of up to 5 digits a unit are converted
                    "rule": "!has(self.interval) || !self.interval.matches('^([0-9]{1,5}(ms|s|m|h))+$') "
                    f"|| duration(self.interval) >= duration('{MIN_INTERVAL_SECONDS}s')",
                    "message": f"interval must be at least {MIN_INTERVAL_SECONDS}s: each evaluation reads the model's "
                    "counters (from Prometheus or the serving pods)",
                    "fieldPath": ".interval",
                },
            ]
        }
    )

    model: ResourceName
    """The model whose serving versions this policy watches."""
    checks: DriftChecks | None = None
    window: DriftWindow | None = None
    interval: Duration = "5m"
    """How often the policy is evaluated: at least 2s (and at least the operator's own minimum)."""
    cooldown: Duration = "1h"
    """After a firing, no new firing for this long."""
    source: MetricsSource | None = None
    action: DriftAction | None = None


class CheckResult(ApiModel):
    name: Check
    """The check, as spec.checks names it."""
    verdict: Verdict
    score: float | None = None
    threshold: float | None = None
    message: str = Field(default="", max_length=1024)


class FeatureResult(ApiModel):
    name: str = Field(max_length=128)
    method: DriftMethod
    score: float | None = None
    threshold: float | None = None
    drifted: bool


class Firing(ApiModel):
    time: datetime
    reason: str = Field(max_length=1024)
    action: Literal["retrain", "notify"] = "notify"
    model_version: str | None = Field(default=None, max_length=253)
    """The Production version that drifted."""
    training_run: str | None = Field(default=None, max_length=253)
    """The TrainingRun the firing started (action retrain)."""
    outcome: FiringOutcome | None = None
    """Where the retraining stands: the run, then the rollout of the version it produced."""
    message: str = Field(default="", max_length=1024)


class DriftPolicyStatus(StatusBase):
    model_version: str | None = Field(default=None, max_length=253)
    """The Production ModelVersion the policy watches."""
    window_start: datetime | None = None
    """Where the current window began: a firing, a new Production version or a full period start a new one."""
    last_evaluation_time: datetime | None = None
    verdict: Verdict | None = None
    score: float | None = None
    """The largest feature drift score of the last evaluation."""
    samples: int | None = Field(default=None, ge=0)
    checks: list[CheckResult] | None = Field(default=None, max_length=16)
    features: list[FeatureResult] | None = Field(default=None, max_length=256)
    firings: list[Firing] | None = Field(default=None, max_length=20)
    """Newest first."""
