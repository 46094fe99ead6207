"""Judging one canary step: the canary's window against the limits and against Production's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ballast.canary.samples import Sample, quantile
from ballast.reasons.modelversion import CanaryVerdict

DEFAULT_MAX_ERROR_RATE = 0.01
# A canary may not be worse than Production by more than this, where no limit is set.
ERROR_RATE_MARGIN = 0.01
ACCURACY_MARGIN = 0.05
MIN_REQUESTS = 20
MIN_FEEDBACK = 20


@dataclass(frozen=True)
class Check:
    name: str
    value: float | None
    limit: float | None
    passed: bool

    def to_status(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "limit": self.limit, "passed": self.passed}

    def describe(self) -> str:
        value = "n/a" if self.value is None else f"{self.value:.4g}"
        return f"{self.name} {value} (limit {self.limit:.4g})" if self.limit is not None else f"{self.name} {value}"


@dataclass(frozen=True)
class Analysis:
    verdict: CanaryVerdict
    checks: tuple[Check, ...]
    message: str


def analyse(canary: Sample, production: Sample, limits: dict[str, Any]) -> Analysis:
    if canary.requests < MIN_REQUESTS:
        return Analysis(
            CanaryVerdict.NOT_ENOUGH_DATA,
            (),
            f"{canary.requests:.0f} requests reached the canary in this step; "
            f"at least {MIN_REQUESTS} are needed to judge it",
        )
    checks = [_error_rate(canary, production, limits)]
    p99 = quantile(0.99, canary.latency_buckets)
    if limits.get("maxP99LatencyMs") is not None:
        p99_ms = None if p99 is None else p99 * 1000
        checks.append(
            Check(
                "p99LatencyMs",
                p99_ms,
                limits["maxP99LatencyMs"],
                p99_ms is not None and p99_ms <= limits["maxP99LatencyMs"],
            )
        )
    accuracy = _accuracy(canary, production, limits)
    if accuracy:
        checks.append(accuracy)
    failed = [c for c in checks if not c.passed]
    if failed:
        return Analysis(CanaryVerdict.FAIL, tuple(checks), "; ".join(c.describe() for c in failed))
    return Analysis(CanaryVerdict.PASS, tuple(checks), "; ".join(c.describe() for c in checks))


def _error_rate(canary: Sample, production: Sample, limits: dict[str, Any]) -> Check:
    rate = canary.server_errors / canary.requests
    limit = limits.get("maxErrorRate")
    if limit is None:
        baseline = production.server_errors / production.requests if production.requests else 0.0
        limit = max(DEFAULT_MAX_ERROR_RATE, baseline + ERROR_RATE_MARGIN)
    return Check("errorRate", rate, limit, rate <= limit)


def _accuracy(canary: Sample, production: Sample, limits: dict[str, Any]) -> Check | None:
    """Accuracy from feedback labels, when the canary has enough of them: against minAccuracy,
    else against Production's own accuracy in the same window less a margin."""
    if canary.feedback < MIN_FEEDBACK:
        return None
    accuracy = canary.feedback_correct / canary.feedback
    if limits.get("minAccuracy") is not None:
        limit = limits["minAccuracy"]
    elif production.feedback >= MIN_FEEDBACK:
        limit = production.feedback_correct / production.feedback - ACCURACY_MARGIN
    else:
        return None
    return Check("accuracy", accuracy, limit, accuracy >= limit)
