"""A DriftPolicy's production baseline (spec.reference.source productionBaseline): each new
Production version first gathers a window of its own traffic, which status.baseline records (so
it outlives the operator), and every later window of that version is judged against it.

Pure functions: the handler reads the window as for any evaluation, and `baseline_step` says
whether it is judged (against the recorded baseline) or still gathered.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ballast.api.driftpolicy import (
    MAX_BASELINE_BINS,
    MAX_BASELINE_DISTRIBUTIONS,
    Baseline,
    BaselineDistribution,
    DriftPolicySpec,
    DriftReference,
    DriftWindow,
    ProductionBaseline,
    ReferenceSource,
)
from ballast.conditions import at_second
from ballast.drift.baseline import Reference, against_baseline, reference_from_window
from ballast.drift.checks import REFERENCE_BINS, REFERENCE_MISSING, REFERENCE_PREDICTIONS, REFERENCE_ROWS, by_label
from ballast.drift.counters import Window, series_key
from ballast.reconcile.durations import parse_duration

PREDICTIONS = "__prediction__"
"""The name status.baseline gives the predictions' distribution (no feature is named so: the
server's own reserved names start and end with two underscores)."""
SIGNIFICANT_DIGITS = 6
"""Ratios are kept to 6 significant digits: status stays small, and a PSI moves by far less
than any threshold's precision."""


@dataclass(frozen=True)
class BaselineTarget:
    """How long and how large a baseline is: the policy's window unless spec.reference.baseline says."""

    period_seconds: float
    min_samples: int


@dataclass(frozen=True)
class BaselineStep:
    judged: Window | None
    """The window to evaluate, against the baseline when there is one; None while gathering."""
    baseline: Baseline | None = None
    """status.baseline to write: the gathering's progress, or the baseline recorded now."""


def baseline_target(spec: DriftPolicySpec) -> BaselineTarget:
    window = spec.window or DriftWindow()
    wanted = (spec.reference or DriftReference()).baseline or ProductionBaseline()
    return BaselineTarget(
        period_seconds=parse_duration(wanted.period or window.period),
        min_samples=wanted.min_samples or window.min_samples,
    )


def uses_baseline(spec: DriftPolicySpec) -> bool:
    return (spec.reference or DriftReference()).source == ReferenceSource.PRODUCTION_BASELINE


def recorded_for(baseline: Baseline | None, version: str) -> bool:
    return baseline is not None and baseline.model_version == version and baseline.recorded_at is not None


def baseline_step(
    spec: DriftPolicySpec,
    recorded: Baseline | None,
    version: str | None,
    window: Window | None,
    started_at: datetime | None,
    now: datetime,
) -> BaselineStep:
    """What this reading is for. With the training reference, or once the version's baseline is
    recorded, it is judged; before, it gathers: a window at least the baseline's period long and
    holding its minSamples predictions is recorded, a shorter or smaller one is progress."""
    if not uses_baseline(spec) or version is None:
        return BaselineStep(window)
    if recorded is not None and recorded_for(recorded, version):
        return BaselineStep(None if window is None else against_baseline(window, reference_of(recorded)))
    if started_at is None or (window is None and started_at != now):
        return BaselineStep(None)  # nothing was read in this reconcile
    gathering = Baseline(model_version=version, started_at=at_second(started_at), rows=0)
    if window is None:
        return BaselineStep(None, gathering)
    gathering = gathering.model_copy(update={"rows": int(window.rows)})
    target = baseline_target(spec)
    if window.rows < target.min_samples or (now - started_at).total_seconds() < target.period_seconds:
        return BaselineStep(None, gathering)
    return BaselineStep(None, record(reference_from_window(window), version, started_at, now))


def record(reference: Reference, version: str, started_at: datetime, now: datetime) -> Baseline:
    """The baseline as status keeps it, bounded: a feature with more bins than MAX_BASELINE_BINS (a
    categorical one of many values) is left out, and so is no feature's worth of judging."""
    bins: dict[str, dict[str, float]] = {}
    for (feature, bin_), ratio in by_label(reference, REFERENCE_BINS, "feature", "bin").items():
        bins.setdefault(feature, {})[bin_] = ratio
    missing = {key[0]: ratio for key, ratio in by_label(reference, REFERENCE_MISSING, "feature").items()}
    predictions = {key[0]: ratio for key, ratio in by_label(reference, REFERENCE_PREDICTIONS, "bin").items()}
    distributions = [
        _distribution(feature, ratios, missing.get(feature))
        for feature, ratios in sorted(bins.items())
        if len(ratios) <= MAX_BASELINE_BINS
    ][: MAX_BASELINE_DISTRIBUTIONS - 1]
    if predictions and len(predictions) <= MAX_BASELINE_BINS:
        distributions.append(_distribution(PREDICTIONS, predictions, None))
    return Baseline(
        model_version=version,
        started_at=at_second(started_at),
        recorded_at=at_second(now),
        rows=int(reference.get(series_key(REFERENCE_ROWS, {}), 0.0)),
        distributions=distributions,
    )


def reference_of(baseline: Baseline) -> Reference:
    """The recorded baseline in the form the checks read a reference."""
    reference: Reference = {series_key(REFERENCE_ROWS, {}): float(baseline.rows)}
    for distribution in baseline.distributions or []:
        for bin_, ratio in zip(distribution.bins, distribution.ratios, strict=False):
            if distribution.name == PREDICTIONS:
                reference[series_key(REFERENCE_PREDICTIONS, {"bin": bin_})] = ratio
            else:
                reference[series_key(REFERENCE_BINS, {"feature": distribution.name, "bin": bin_})] = ratio
        if distribution.missing_ratio is not None:
            reference[series_key(REFERENCE_MISSING, {"feature": distribution.name})] = distribution.missing_ratio
    return reference


def replacing_patch(baseline: Baseline) -> dict[str, Any]:
    """status.baseline as a merge patch that replaces the one before whole: a merge patch merges
    objects, so a field this one lacks (a new version's gathering has no distributions yet) is
    sent as a null, which deletes the previous version's."""
    every = {field.alias or name: None for name, field in Baseline.model_fields.items()}
    return every | baseline.to_wire()


def _distribution(name: str, ratios: dict[str, float], missing: float | None) -> BaselineDistribution:
    bins = list(ratios)
    return BaselineDistribution(
        name=name,
        bins=bins,
        ratios=[_significant(ratios[bin_]) for bin_ in bins],
        missing_ratio=None if missing is None else _significant(missing),
    )


def _significant(value: float) -> float:
    if value == 0 or not math.isfinite(value):
        return 0.0
    return round(value, SIGNIFICANT_DIGITS - 1 - math.floor(math.log10(abs(value))))
