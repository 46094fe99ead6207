"""One evaluation of a DriftPolicy's checks on a window, and the policy's overall verdict."""

from __future__ import annotations

from dataclasses import dataclass, field

from ballast.api.driftpolicy import (
    AccuracyCheck,
    DriftChecks,
    ErrorRatesCheck,
    EstimatedAccuracyCheck,
    FeatureDriftCheck,
    IntegrityCheck,
    PredictionDriftCheck,
)
from ballast.drift import checks, group_checks
from ballast.drift.checks import CheckOutcome, FeatureOutcome
from ballast.drift.counters import Window
from ballast.reasons.driftpolicy import Verdict


@dataclass(frozen=True)
class Evaluation:
    verdict: Verdict
    rows: float
    checks: list[CheckOutcome] = field(default_factory=list)

    @property
    def features(self) -> list[FeatureOutcome]:
        return [feature for check in self.checks for feature in check.features]

    @property
    def drifting(self) -> list[CheckOutcome]:
        return [check for check in self.checks if check.verdict == Verdict.DRIFT]

    @property
    def max_feature_score(self) -> float | None:
        """The largest distance among the features (p-value methods are left out: lower is worse)."""
        scores = [f.score for f in self.features if f.score is not None and f.method not in ("ks", "chiSquare")]
        return max(scores) if scores else None

    def summary(self) -> str:
        if self.drifting:
            return "; ".join(f"{check.name}: {check.message}" for check in self.drifting)
        return "; ".join(f"{check.name} {check.verdict}" for check in self.checks)


def evaluate(
    window: Window, configured: DriftChecks | None, *, min_samples: int, offline_accuracy: float | None
) -> Evaluation:
    """Every enabled check on the window. A check left out of spec.checks runs with its model's
    defaults, which also say whether it is on (the label-free estimate is opt-in)."""
    configured = configured or DriftChecks()
    feature = configured.feature_drift or FeatureDriftCheck()
    prediction = configured.prediction_drift or PredictionDriftCheck()
    integrity = configured.integrity or IntegrityCheck()
    accuracy = configured.accuracy or AccuracyCheck()
    estimated = configured.estimated_accuracy or EstimatedAccuracyCheck()
    error_rates = configured.error_rates or ErrorRatesCheck()
    outcomes = []
    if feature.enabled:
        outcomes.append(checks.feature_drift(window, feature, min_samples))
    if prediction.enabled:
        outcomes.append(checks.prediction_drift(window, prediction, min_samples))
    if integrity.enabled:
        outcomes.append(checks.integrity(window, integrity, min_samples))
    if accuracy.enabled:
        outcomes.append(checks.accuracy(window, accuracy, offline_accuracy, min_samples))
    if estimated.enabled:
        outcomes.append(checks.estimated_accuracy(window, estimated, offline_accuracy, min_samples))
    # A model trained before error rates were recorded cannot be judged: left out rather than an
    # Error on every evaluation of a policy that never asked for the check.
    if error_rates.enabled and (configured.error_rates is not None or group_checks.has_error_rates(window)):
        outcomes.append(group_checks.error_rates(window, error_rates, min_samples))
    if configured.fairness is not None and configured.fairness.enabled:
        outcomes.append(group_checks.fairness(window, configured.fairness, min_samples))
    return Evaluation(verdict=overall_verdict(outcomes), rows=window.rows, checks=outcomes)


def overall_verdict(outcomes: list[CheckOutcome]) -> Verdict:
    """Any check in drift is drift. Otherwise a check that judged says no drift; when none
    could judge, it is not enough data (or an error, when every check failed outright)."""
    verdicts = {outcome.verdict for outcome in outcomes}
    if Verdict.DRIFT in verdicts:
        return Verdict.DRIFT
    if Verdict.NO_DRIFT in verdicts:
        return Verdict.NO_DRIFT
    if Verdict.NOT_ENOUGH_DATA in verdicts or not outcomes:
        return Verdict.NOT_ENOUGH_DATA
    return Verdict.ERROR
