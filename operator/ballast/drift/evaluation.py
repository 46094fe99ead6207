"""One evaluation of a DriftPolicy's checks on a window, and the policy's overall verdict."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ballast.drift import checks
from ballast.drift.checks import DRIFT, ERROR, NO_DRIFT, NOT_ENOUGH_DATA, CheckOutcome, FeatureOutcome
from ballast.drift.counters import Window

ENABLED_BY_DEFAULT = {
    "featureDrift": True,
    "predictionDrift": True,
    "integrity": True,
    "accuracy": True,
    "estimatedAccuracy": False,
}
"""A check left out of spec.checks runs with its defaults; `enabled: false` turns one off.
The label-free accuracy estimate assumes a calibrated classifier, so it is opt-in."""


@dataclass(frozen=True)
class Evaluation:
    verdict: str
    rows: float
    checks: list[CheckOutcome] = field(default_factory=list)

    @property
    def features(self) -> list[FeatureOutcome]:
        return [feature for check in self.checks for feature in check.features]

    @property
    def drifting(self) -> list[CheckOutcome]:
        return [check for check in self.checks if check.verdict == DRIFT]

    @property
    def max_feature_score(self) -> float | None:
        """The largest distance among the features (p-value methods are left out: lower is worse)."""
        scores = [f.score for f in self.features if f.score is not None and f.method not in ("ks", "chiSquare")]
        return max(scores) if scores else None

    def summary(self) -> str:
        if self.drifting:
            return "; ".join(f"{check.name}: {check.message}" for check in self.drifting)
        return "; ".join(f"{check.name} {check.verdict}" for check in self.checks)


def enabled_checks(spec_checks: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    configured = spec_checks or {}
    return {
        name: configured.get(name) or {}
        for name, default in ENABLED_BY_DEFAULT.items()
        if (configured.get(name) or {}).get("enabled", default)
    }


def evaluate(
    window: Window, spec_checks: Mapping[str, Any] | None, *, min_samples: int, offline_accuracy: float | None
) -> Evaluation:
    outcomes = []
    for name, check in enabled_checks(spec_checks).items():
        if name == "featureDrift":
            outcomes.append(checks.feature_drift(window, check, min_samples))
        elif name == "predictionDrift":
            outcomes.append(checks.prediction_drift(window, check, min_samples))
        elif name == "integrity":
            outcomes.append(checks.integrity(window, check, min_samples))
        elif name == "accuracy":
            outcomes.append(checks.accuracy(window, check, offline_accuracy))
        elif name == "estimatedAccuracy":
            outcomes.append(checks.estimated_accuracy(window, check, offline_accuracy, min_samples))
    return Evaluation(verdict=overall_verdict(outcomes), rows=window.rows, checks=outcomes)


def overall_verdict(outcomes: list[CheckOutcome]) -> str:
    """Any check in drift is drift. Otherwise a check that judged says no drift; when none
    could judge, it is not enough data (or an error, when every check failed outright)."""
    verdicts = {outcome.verdict for outcome in outcomes}
    if DRIFT in verdicts:
        return DRIFT
    if NO_DRIFT in verdicts:
        return NO_DRIFT
    if NOT_ENOUGH_DATA in verdicts or not outcomes:
        return NOT_ENOUGH_DATA
    return ERROR
