"""DriftPolicy: what behaving well means for one model, and what to do when it stops."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import ConfigDict, Field

from ballast.api.common import ApiModel, Duration, Fraction, OpenFraction, ResourceName, StatusBase
from ballast.api.trainingrun import TrainingRunSpec
from ballast.reasons.driftpolicy import Check, FiringOutcome, Verdict

NumericMethod = Literal["psi", "jensenShannon", "wasserstein", "ks"]
CategoricalMethod = Literal["psi", "jensenShannon", "chiSquare"]
DriftMethod = Literal["psi", "jensenShannon", "chiSquare", "ks", "wasserstein"]
MAX_BASELINE_BINS = 64
"""Bins kept per distribution in status.baseline: a numeric feature has about a dozen; a
categorical one with more categories than this is left out of the baseline."""
MAX_BASELINE_DISTRIBUTIONS = 257
"""The features of status.baseline (the 256 a policy judges), and the predictions."""
MIN_INTERVAL_SECONDS = 2
"""The shortest `interval` the API accepts; the operator also floors older objects to its own
minimum (settings.drift_min_interval_seconds, this by default)."""


# No class docstring: pydantic would copy it into the CRD in place of the field's own description.
class Promotion(StrEnum):
    AUTO = "auto"
    MANUAL = "manual"


class FeatureDriftCheck(ApiModel):
    """Each input feature's distribution in the window against the training data's."""

    enabled: bool = True
    """Run this check; on by default."""
    numeric_method: NumericMethod = "psi"
    """How a numeric feature is compared: psi, jensenShannon, wasserstein (in reference standard
    deviations) or ks (a p-value); docs/drift.md compares them."""
    categorical_method: CategoricalMethod = "psi"
    """How a categorical feature is compared: psi, jensenShannon or chiSquare (a p-value)."""
    threshold: float | None = Field(default=None, gt=0)
    """When one feature counts as drifted: a score above it (psi, jensenShannon, wasserstein), or
    a p-value below it (ks, chiSquare); the method's usual default when left out (docs/drift.md)."""
    drifted_share: Fraction = 0.5
    """The share of features that must drift for the check to fire."""
    features: list[str] | None = Field(default=None, max_length=256)
    """Only these features; every feature of the model when left out."""


class PredictionDriftCheck(ApiModel):
    """The distribution of the model's predictions in the window against those on its training data."""

    enabled: bool = True
    """Run this check; on by default."""
    method: DriftMethod = "psi"
    """How the two distributions are compared: classes for a classifier, bins for a regressor
    (ks and wasserstein apply to a regressor only, chiSquare to a classifier only)."""
    threshold: float | None = Field(default=None, gt=0)
    """A score above it (psi, jensenShannon, wasserstein) or a p-value below it (ks, chiSquare)
    means drift; the method's usual default when left out (docs/drift.md)."""


class IntegrityCheck(ApiModel):
    """Broken inputs, each as a share of the window's rows; one rate over its limit means drift."""

    enabled: bool = True
    """Run this check; on by default."""
    max_null_rate: Fraction = 0.05
    """The largest share of missing values beyond the training data's own share."""
    max_out_of_range_rate: Fraction = 0.05
    """The largest share of a numeric feature's values outside the training data's range, beyond
    the share the training data itself put at its edges."""
    max_unseen_category_rate: Fraction = 0.05
    """The largest share of a categorical feature's values that training never saw."""


class AccuracyCheck(ApiModel):
    """Accuracy measured from the true labels sent to the model server's feedback endpoint."""

    enabled: bool = True
    """Run this check; on by default (it waits for labels)."""
    min_accuracy: Fraction | None = None
    """The lowest accuracy allowed on the labelled predictions (0 to 1); with maxDrop, the stricter
    of the two applies."""
    max_drop: Fraction | None = 0.05
    """The largest drop from the offline accuracy of training that is still acceptable."""
    min_labels: int = Field(default=100, ge=1)
    """Fewer labels than this in the window means not enough data."""


# The new checks' defaults live in ballast.drift.defaults, which this package cannot import (the
# SDK installs without numpy): a field left out is None here and the check applies the default.
class FairnessCheck(ApiModel):
    """How evenly a binary classifier's live predictions treat the groups of one feature: the
    demographic parity difference (no labels needed) and, once enough labels came back, the
    equal opportunity difference; each against training's value and an absolute limit."""

    enabled: bool = True
    """Run this check; on when given."""
    sensitive_feature: str = Field(min_length=1, max_length=128)
    """The feature whose groups are compared: the one the TrainingRun's gates.fairness named, which
    the model server counts by group (a numeric feature's groups are its training bins)."""
    max_demographic_parity_difference: Fraction | None = None
    """The largest gap allowed between groups' rates of positive predictions, whatever training measured."""
    max_equal_opportunity_difference: Fraction | None = None
    """The largest gap allowed between groups' true positive rates, whatever training measured."""
    max_increase: Fraction | None = None
    """The largest rise of either difference above the value measured at training (0.1 when left
    out); with an absolute limit, the stricter of the two applies."""
    min_group_rows: int | None = Field(default=None, ge=1)
    """A group with fewer rows (labelled positives, for equal opportunity) is left out of the gap
    (30 when left out)."""
    min_labels: int | None = Field(default=None, ge=1)
    """Fewer labels than this in the window leaves equal opportunity unjudged (100 when left out)."""


class ErrorRatesCheck(ApiModel):
    """Each class's false positive and false negative rate on the labels fed back, against the
    rates training measured on its test split: a class whose errors rise fires even when overall
    accuracy holds."""

    enabled: bool = True
    """Run this check; on by default for classifiers (it waits for labels)."""
    max_increase: Fraction | None = None
    """The largest rise of a class's false positive or false negative rate above training's (0.1
    when left out)."""
    classes: list[str] | None = Field(default=None, max_length=256)
    """Only these classes; every class of the model when left out."""
    min_labels: int | None = Field(default=None, ge=1)
    """Fewer labels than this in the window means not enough data (100 when left out)."""
    min_class_labels: int | None = Field(default=None, ge=1)
    """A rate over fewer labelled rows (of the class, or of the other classes) is not judged (30
    when left out)."""


class EstimatedAccuracyCheck(ApiModel):
    """Accuracy estimated without labels from the predicted probabilities (confidence-based)."""

    enabled: bool = False
    """Run this check; off by default (it needs a classifier with predict_proba)."""
    max_drop: Fraction = 0.05
    """The largest drop of the estimate below training's offline accuracy that is still acceptable."""


class DriftChecks(ApiModel):
    """A check left out runs with its defaults; `enabled: false` turns it off. Feature drift,
    prediction drift, integrity, accuracy and error rates are on by default; the estimate without
    labels is not, and fairness runs only when given (it names its feature)."""

    feature_drift: FeatureDriftCheck | None = None
    """The inputs' distributions against the training data's."""
    prediction_drift: PredictionDriftCheck | None = None
    """The predictions' distribution against those on the training data."""
    integrity: IntegrityCheck | None = None
    """Missing values, out-of-range values and unseen categories in the inputs."""
    accuracy: AccuracyCheck | None = None
    """Accuracy on the true labels fed back to the model server."""
    estimated_accuracy: EstimatedAccuracyCheck | None = None
    """Accuracy estimated without labels from the model's confidence."""
    error_rates: ErrorRatesCheck | None = None
    """Each class's false positive and false negative rates on the labels fed back."""
    fairness: FairnessCheck | None = None
    """Group fairness of the predictions across one sensitive feature; off unless given."""


class DriftWindow(ApiModel):
    """The stretch of traffic each evaluation judges."""

    min_samples: int = Field(default=500, ge=1)
    """Fewer predictions than this in the window means not enough data, never no drift."""
    period: Duration = "1h"
    """How long a window lasts before a new one starts (a firing or a new Production version
    also starts one), for example 30m or 1h."""


class ProductionBaseline(ApiModel):
    """How much of a new Production version's own traffic is gathered before it is judged."""

    period: Duration | None = None
    """How long the baseline gathers at least, from the first reading of the new version: the
    window's period when left out."""
    min_samples: int | None = Field(default=None, ge=1)
    """Predictions the baseline needs before it is recorded: the window's minSamples when left out."""


# No class docstring: pydantic would copy it into the CRD in place of the field's own description.
class ReferenceSource(StrEnum):
    TRAINING = "training"
    PRODUCTION_BASELINE = "productionBaseline"
    NEWEST_TRAINING = "newestTraining"


class NewestTraining(ApiModel):
    """Which rows of the training snapshot are its newest part, by a time column of the snapshot."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.period) != has(self.fraction)",
                    "message": "reference.newest needs exactly one of period and fraction",
                }
            ]
        }
    )

    time_column: str = Field(min_length=1, max_length=128)
    """The snapshot's column that dates each row (timestamps, or numbers such as epoch seconds); it is
    a model feature only if the Dataset's schema.features lists it (or lists no features at all)."""
    period: Duration | None = None
    """The rows dated within this long of the snapshot's newest row, for example 720h."""
    fraction: OpenFraction | None = None
    """The newest share of the snapshot's dated rows, for example 0.3."""


class DriftReference(ApiModel):
    """What live windows are compared with: the Production version's training data, or a baseline
    window of that version's own traffic, gathered after each change of the Production version."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.baseline) || self.source == 'productionBaseline'",
                    "message": "reference.baseline applies to source productionBaseline only",
                    "fieldPath": ".baseline",
                },
                {
                    "rule": "has(self.newest) == (self.source == 'newestTraining')",
                    "message": "reference.newest is required with source newestTraining, and applies to it only",
                    "fieldPath": ".newest",
                },
            ]
        }
    )

    source: ReferenceSource = ReferenceSource.TRAINING
    """training: the training snapshot's distributions (the model server's reference); productionBaseline:
    the first window of traffic each new Production version serves, recorded in status.baseline;
    newestTraining: the distributions of the snapshot's newest rows only (reference.newest)."""
    baseline: ProductionBaseline | None = None
    """How long and how large the baseline is, with source productionBaseline."""
    newest: NewestTraining | None = None
    """Which rows are the newest part of the training snapshot, with source newestTraining."""


class MetricsSource(ApiModel):
    """Where the serving counters the checks read come from."""

    prometheus_url: str | None = Field(default=None, max_length=2048, pattern=r"^https?://.+$")
    """Query this Prometheus server instead of scraping the serving pods directly."""


class TrainingRunTemplateMetadata(ApiModel):
    """The part of ObjectMeta a template may set; the name is generated."""

    labels: dict[str, str] | None = None
    """Labels of the TrainingRun, beside the ones the operator sets (managed-by, the policy's name)."""
    annotations: dict[str, str] | None = None
    """Annotations of the TrainingRun, beside the firing's reason the operator records."""


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
    """Labels and annotations of the TrainingRun."""
    spec: TrainingRunSpec
    """The TrainingRun's spec; datasetRef names the Dataset only, and the model must be the policy's."""


class RetrainAction(ApiModel):
    """A firing creates a TrainingRun from the template, pinned to the Dataset's newest valid
    version, with mustBeatChampion forced on: a retrained model that does not beat the Production
    version on the new data is never rolled out. Retraining waits while the newest version is the
    one the Production version was trained on (the same data would give the same model)."""

    template: TrainingRunTemplate
    """The TrainingRun each firing creates."""
    promotion: Promotion = Promotion.AUTO
    """auto: the new version goes through its canary by itself; manual: it waits for approval."""
    max_per_day: int = Field(default=3, ge=1, le=100)
    """At most this many retrainings in any 24 hours; a firing beyond it only records the drift."""


class DriftAction(ApiModel):
    """What a firing does besides the Drifting condition and a Warning Event."""

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
    """notify: only the condition, the Event and the metrics; retrain: also a TrainingRun from retrain.template."""
    retrain: RetrainAction | None = None
    """How to retrain; required with type retrain."""


class DriftPolicySpec(ApiModel):
    """How one model's serving traffic is judged against its training data, how often, and what
    a drifting window does."""

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
    """Which checks run and their limits; every check's defaults when left out."""
    window: DriftWindow | None = None
    """The traffic each evaluation judges; 1h and at least 500 rows when left out."""
    interval: Duration = "5m"
    """How often the policy is evaluated: at least 2s (and at least the operator's own minimum)."""
    cooldown: Duration = "1h"
    """After a firing, no new firing for this long."""
    reference: DriftReference | None = None
    """What the windows are compared with; the training data when left out."""
    source: MetricsSource | None = None
    """Where the counters come from; the serving pods, scraped directly, when left out."""
    action: DriftAction | None = None
    """What a firing does; notify when left out."""


class CheckResult(ApiModel):
    """One check's result in the last evaluation."""

    name: Check
    """The check, as spec.checks names it."""
    verdict: Verdict
    """Drift, NoDrift, NotEnoughData or Error (the server does not export what the check needs)."""
    score: float | None = None
    """The check's figure: the share of drifted features (featureDrift), the method's score
    (predictionDrift), the worst rate (integrity), the accuracy (accuracy, estimatedAccuracy), the
    worst difference (fairness) or the worst class error rate (errorRates)."""
    threshold: float | None = None
    """The limit the score was judged against."""
    message: str = Field(default="", max_length=1024)
    """The result in words."""


class FeatureResult(ApiModel):
    """One feature's drift in the last evaluation."""

    name: str = Field(max_length=128)
    """The feature (a column of the training data)."""
    method: DriftMethod
    """The method that compared it (spec.checks.featureDrift's numericMethod or categoricalMethod)."""
    score: float | None = None
    """The method's score at full precision: a p-value for ks and chiSquare, else a distance
    (wasserstein in reference standard deviations); absent when it cannot be computed."""
    threshold: float | None = None
    """The threshold the score was judged against."""
    drifted: bool
    """Whether this feature drifted."""


class Firing(ApiModel):
    """One drifting window that fired, and what became of the retraining it started."""

    time: datetime
    """When it fired."""
    reason: str = Field(max_length=1024)
    """The drifting checks and their messages."""
    action: Literal["retrain", "notify"] = "notify"
    """spec.action.type at the time of the firing."""
    model_version: str | None = Field(default=None, max_length=253)
    """The Production version that drifted."""
    training_run: str | None = Field(default=None, max_length=253)
    """The TrainingRun the firing started (action retrain)."""
    outcome: FiringOutcome | None = None
    """Where the retraining stands: the run, then the rollout of the version it produced."""
    message: str = Field(default="", max_length=1024)
    """The retraining in words: what it trains on, why it waits, or why none started (maxPerDay)."""


class BaselineDistribution(ApiModel):
    """One feature's (or the predictions') share of the baseline's values in each bin."""

    name: str = Field(max_length=128)
    """The feature, or __prediction__ for the model's predictions."""
    bins: list[str] = Field(max_length=MAX_BASELINE_BINS)
    """The bins: a numeric bucket's `le`, a category, or a class."""
    ratios: list[float] = Field(max_length=MAX_BASELINE_BINS)
    """The share of the present values in each bin, in the order of bins."""
    missing_ratio: float | None = Field(default=None, ge=0, le=1)
    """The share of the baseline's rows that missed the feature."""


class Baseline(ApiModel):
    """A window of the Production version's own traffic, the reference of the windows after it."""

    model_version: str = Field(max_length=253)
    """The Production version whose traffic it holds: a new Production version gathers a new one."""
    started_at: datetime | None = None
    """Where the baseline window began."""
    recorded_at: datetime | None = None
    """When it was recorded; absent while it is gathered."""
    rows: int = Field(default=0, ge=0)
    """Predictions in the baseline window (so far, while it is gathered)."""
    distributions: list[BaselineDistribution] | None = Field(default=None, max_length=MAX_BASELINE_DISTRIBUTIONS)
    """Each feature's distribution and the predictions'; absent while it is gathered."""


class DriftPolicyStatus(StatusBase):
    """The last evaluation and the firings, written by the operator at every interval."""

    model_version: str | None = Field(default=None, max_length=253)
    """The Production ModelVersion the policy watches."""
    window_start: datetime | None = None
    """Where the current window began: a firing, a new Production version or a full period start a new one."""
    last_evaluation_time: datetime | None = None
    """When the policy was last evaluated."""
    verdict: Verdict | None = None
    """The last evaluation's verdict: Drift when any check drifts, else NoDrift when any check found
    none, else NotEnoughData or Error."""
    score: float | None = None
    """The largest feature drift score of the last evaluation among the distance methods (psi,
    jensenShannon, wasserstein), rounded to 4 significant digits for `kubectl get`; features[]
    keeps each score at full precision."""
    samples: int | None = Field(default=None, ge=0)
    """Predictions in the window the last evaluation judged."""
    checks: list[CheckResult] | None = Field(default=None, max_length=16)
    """Each enabled check's result."""
    features: list[FeatureResult] | None = Field(default=None, max_length=256)
    """Each feature's drift, drifted features first, then by score."""
    firings: list[Firing] | None = Field(default=None, max_length=20)
    """Newest first."""
    baseline: Baseline | None = None
    """The production baseline the windows are compared with (spec.reference.source productionBaseline)."""
