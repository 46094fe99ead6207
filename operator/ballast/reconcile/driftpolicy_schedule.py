"""When a DriftPolicy reads its counters, and where its window starts.

A window starts when a version begins to be watched, after each firing, and when a full
`window.period` has passed; the policy evaluates it every `interval` until then."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from ballast.api.driftpolicy import MIN_INTERVAL_SECONDS, DriftPolicySpec, DriftPolicyStatus, DriftWindow
from ballast.drift import window_memory
from ballast.drift.counters import Window
from ballast.drift.evaluation import Evaluation, evaluate
from ballast.reconcile.driftpolicy_inputs import PolicyInputs, offline_accuracy
from ballast.reconcile.durations import parse_duration


def evaluate_window(spec: DriftPolicySpec, production: Mapping[str, Any] | None, window: Window) -> Evaluation:
    """The policy's checks on one window, against the accuracy the Production version trained to."""
    return evaluate(
        window,
        spec.checks,
        min_samples=(spec.window or DriftWindow()).min_samples,
        offline_accuracy=offline_accuracy(production),
    )


def evaluation_interval(spec: DriftPolicySpec, *, min_interval_seconds: float = MIN_INTERVAL_SECONDS) -> float:
    """The interval in seconds, floored at the operator's minimum, so an object admitted before
    the API's own minimum existed cannot read more often."""
    return max(parse_duration(spec.interval), min_interval_seconds)


def evaluation_due(
    status: DriftPolicyStatus,
    spec: DriftPolicySpec,
    now: datetime,
    production: str | None,
    *,
    min_interval_seconds: float = MIN_INTERVAL_SECONDS,
) -> bool:
    """Whether the counters are read now."""
    if production is None:
        return False
    if status.model_version != production or status.last_evaluation_time is None:
        return True
    elapsed = (now - status.last_evaluation_time).total_seconds()
    return elapsed >= evaluation_interval(spec, min_interval_seconds=min_interval_seconds)


def resumed_window_start(
    status: DriftPolicyStatus, spec: DriftPolicySpec, now: datetime, production: str
) -> datetime | None:
    """Where a window read from Prometheus resumes after an operator restart (status.windowStart)."""
    period = parse_duration((spec.window or DriftWindow()).period)
    return window_memory.resumed_start(status.model_version, status.window_start, production, now, period)


def next_evaluation(policy: PolicyInputs, evaluated_now: bool) -> datetime:
    """When the counters are read next: an interval after this reconcile's read, or after the
    last one. An evaluation that was due and not made (the namespace's other policies held the
    read slots) is tried again after the shortest interval. The cooldown's end needs no wake of
    its own: a firing happens only at an evaluation, which this already schedules."""
    floor = policy.observed.settings.drift_min_interval_seconds
    evaluated = policy.now if evaluated_now else policy.status.last_evaluation_time
    if evaluated is None:
        return policy.now + timedelta(seconds=floor)
    due = evaluated + timedelta(seconds=evaluation_interval(policy.spec, min_interval_seconds=floor))
    return due if due > policy.now else policy.now + timedelta(seconds=floor)
