"""A window of production traffic as a reference: the distributions of a baseline window in the
form the model server exports its training reference (ballast_reference_*), so the checks judge
later windows against it with no change of their own.

The baseline is built from the very counters the checks read, in the same bins (a numeric
bucket's `le`, a category, a class), so a later window of the same traffic compares equal to it.
"""

from __future__ import annotations

from dataclasses import replace

from ballast.drift.checks import (
    FEATURE_MISSING,
    PREDICTION_BUCKETS,
    PREDICTION_CLASSES,
    REFERENCE_BINS,
    REFERENCE_MISSING,
    REFERENCE_PREDICTIONS,
    REFERENCE_ROWS,
    by_label,
    categorical_features,
    histogram,
    numeric_features,
)
from ballast.drift.counters import SeriesKey, Window, series_key

Reference = dict[SeriesKey, float]

DISTRIBUTION_FAMILIES = frozenset({REFERENCE_ROWS, REFERENCE_BINS, REFERENCE_MISSING, REFERENCE_PREDICTIONS})
"""The reference families a baseline replaces. The rest of the training reference (fairness and
error rates measured on training's test split) still describes the model, not the traffic."""


def reference_from_window(window: Window) -> Reference:
    """The window's distributions as reference ratios: each bin's share of a feature's present
    values, each feature's share of missing rows, each prediction bin's share, and the rows."""
    rows = window.rows
    reference: Reference = {series_key(REFERENCE_ROWS, {}): rows}
    features = {name: dict(zip(*histogram(cumulative))) for name, cumulative in numeric_features(window).items()}
    features |= categorical_features(window)
    for feature, counts in features.items():
        for bin_, share in _shares(counts).items():
            reference[series_key(REFERENCE_BINS, {"feature": feature, "bin": bin_})] = share
    if rows > 0:
        for (feature,), missing in by_label(window.counts, FEATURE_MISSING, "feature").items():
            reference[series_key(REFERENCE_MISSING, {"feature": feature})] = min(missing / rows, 1.0)
    classes = {key[0]: value for key, value in by_label(window.counts, PREDICTION_CLASSES, "class").items()}
    buckets = {key[0]: value for key, value in by_label(window.counts, PREDICTION_BUCKETS, "le").items()}
    predictions = classes or dict(zip(*histogram(buckets)))
    for bin_, share in _shares(predictions).items():
        reference[series_key(REFERENCE_PREDICTIONS, {"bin": bin_})] = share
    return reference


def against_baseline(window: Window, baseline: Reference) -> Window:
    """The window with the baseline's distributions in place of the training data's."""
    kept = {key: value for key, value in window.reference.items() if key[0] not in DISTRIBUTION_FAMILIES}
    return replace(window, reference=kept | baseline)


def _shares(counts: dict[str, float]) -> dict[str, float]:
    """Each bin's share; nothing for a feature with no present value (no reference to judge by)."""
    total = sum(counts.values())
    return {bin_: count / total for bin_, count in counts.items()} if total > 0 else {}
