"""A DriftPolicy judged against the newest part of the training snapshot (spec.reference.source
newestTraining): the model server counts that part in its reference bins, and its distributions
take the place of the whole snapshot's, as a production baseline's do.

Pure functions: the handler reads the part's reference as it reads the whole one.
"""

from __future__ import annotations

from ballast.api.driftpolicy import DriftPolicySpec, DriftReference, ReferenceSource
from ballast.drift.baseline import DISTRIBUTION_FAMILIES, Reference, against_baseline
from ballast.drift.checks import REFERENCE_ROWS
from ballast.drift.counters import Window
from ballast.drift.newest import NewestPart
from ballast.reasons.driftpolicy import NO_NEWEST_REFERENCE
from ballast.reconcile.durations import parse_duration


def newest_part(spec: DriftPolicySpec) -> NewestPart | None:
    """The part spec.reference names; None with any other source."""
    reference = spec.reference or DriftReference()
    newest = reference.newest
    if reference.source != ReferenceSource.NEWEST_TRAINING or newest is None:
        return None
    period = parse_duration(newest.period) if newest.period is not None else None
    return NewestPart(time_column=newest.time_column, period_seconds=period, fraction=newest.fraction)


def against_newest(window: Window, part: NewestPart, newest: Reference) -> tuple[Window | None, tuple[str, str] | None]:
    """The window judged against the part's distributions, keeping what training measured of the
    model (fairness, error rates); no window and the reason when the part gave no rows to judge by."""
    distributions = {key: value for key, value in newest.items() if key[0] in DISTRIBUTION_FAMILIES}
    if not distributions.get((REFERENCE_ROWS, ())):
        return None, (
            NO_NEWEST_REFERENCE,
            f"no reference of the training snapshot's newest part by {part.time_column!r}: "
            "the model server has none (see its /metrics/reference answer and log)",
        )
    return against_baseline(window, distributions), None
