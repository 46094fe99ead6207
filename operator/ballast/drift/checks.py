"""A DriftPolicy's checks, judged on one Window of the model server's counters.

Each check answers a verdict: Drift, NoDrift, NotEnoughData (too few rows or labels in the
window to say anything: never read as "no drift") or Error (the server does not export what
the check needs). Metric names and labels are those of docs/metrics.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from ballast.api.driftpolicy import (
    AccuracyCheck,
    DriftMethod,
    EstimatedAccuracyCheck,
    FeatureDriftCheck,
    IntegrityCheck,
    PredictionDriftCheck,
)
from ballast.drift.bins import BinCounts
from ballast.drift.compare import DriftVerdict, FeatureKind, compare_binned
from ballast.drift.counters import SeriesKey, Window, labels_of
from ballast.reasons.driftpolicy import Check, Verdict

FEATURE_BUCKETS = "ballast_feature_value_bucket"
FEATURE_CATEGORIES = "ballast_feature_category_total"
FEATURE_MISSING = "ballast_feature_missing_total"
PREDICTION_CLASSES = "ballast_prediction_class_total"
PREDICTION_BUCKETS = "ballast_prediction_value_bucket"
MAX_PROBABILITY_SUM = "ballast_prediction_max_probability_sum"
MAX_PROBABILITY_COUNT = "ballast_prediction_max_probability_count"
CONFUSION = "ballast_feedback_confusion_total"
REFERENCE_ROWS = "ballast_reference_rows"
REFERENCE_BINS = "ballast_reference_feature_bin_ratio"
REFERENCE_MISSING = "ballast_reference_feature_missing_ratio"
REFERENCE_PREDICTIONS = "ballast_reference_prediction_bin_ratio"
UNSEEN = "__unseen__"


@dataclass(frozen=True)
class FeatureOutcome:
    feature: str
    kind: str
    method: DriftMethod
    score: float | None
    threshold: float
    drifted: bool | None
    rows: float
    statistic: float | None = None
    """The distance, or a test's statistic (ballast_drift_feature_score)."""
    p_value: float | None = None
    """A test's p-value, None for distances (ballast_drift_feature_pvalue)."""


@dataclass(frozen=True)
class CheckOutcome:
    name: Check
    verdict: Verdict
    score: float | None = None
    threshold: float | None = None
    message: str = ""
    features: list[FeatureOutcome] = field(default_factory=list)


# --- reading a Window ---------------------------------------------------------------------


def by_label(table: Mapping[SeriesKey, float], name: str, *keys: str) -> dict[tuple[str, ...], float]:
    """The series named `name`, keyed by the values of `keys`."""
    found = {}
    for (series, labels), value in table.items():
        if series == name:
            values = labels_of((series, labels))
            found[tuple(values.get(key, "") for key in keys)] = value
    return found


def _le(key: str) -> float:
    return math.inf if key == "+Inf" else float(key)


def _compare_to_reference(
    method: str,
    kind: FeatureKind,
    reference: Mapping[str, float],
    reference_size: float,
    keys: list[str],
    counts: list[float],
    threshold: float | None,
) -> DriftVerdict:
    """The window's counts in `keys` against the training data's ratios of the same bins; a
    numeric bin's key is its bucket's `le`, whose finite ones are the edges wasserstein needs."""
    return compare_binned(
        method,
        BinCounts.from_ratios([reference.get(k, 0.0) for k in keys], reference_size),
        BinCounts.from_counts(counts),
        kind=kind,
        threshold=threshold,
        edges=[_le(k) for k in keys if k != "+Inf"] if kind == "numeric" else None,
    )


def histogram(cumulative: dict[str, float]) -> tuple[list[str], list[float]]:
    """`le` keys in order and the de-cumulated count of each bucket."""
    keys = sorted(cumulative, key=_le)
    counts, previous = [], 0.0
    for key in keys:
        counts.append(max(cumulative[key] - previous, 0.0))
        previous = max(cumulative[key], previous)
    return keys, counts


def numeric_features(window: Window) -> dict[str, dict[str, float]]:
    """feature -> le -> cumulative count in the window."""
    features: dict[str, dict[str, float]] = {}
    for (feature, le), value in by_label(window.counts, FEATURE_BUCKETS, "feature", "le").items():
        features.setdefault(feature, {})[le] = value
    return features


def categorical_features(window: Window) -> dict[str, dict[str, float]]:
    features: dict[str, dict[str, float]] = {}
    for (feature, category), value in by_label(window.counts, FEATURE_CATEGORIES, "feature", "category").items():
        features.setdefault(feature, {})[category] = value
    return features


def reference_bins(window: Window) -> dict[str, dict[str, float]]:
    features: dict[str, dict[str, float]] = {}
    for (feature, bin_), value in by_label(window.reference, REFERENCE_BINS, "feature", "bin").items():
        features.setdefault(feature, {})[bin_] = value
    return features


def _reference_size(window: Window, feature: str | None) -> float:
    """Present training values behind a feature's ratios; a population of unknown size if absent."""
    rows = window.reference.get((REFERENCE_ROWS, ()))
    if not rows:
        return math.inf
    missing = by_label(window.reference, REFERENCE_MISSING, "feature").get((feature,), 0.0) if feature else 0.0
    return max(rows * (1.0 - missing), 0.0) or math.inf


# --- the checks ---------------------------------------------------------------------------


def feature_drift(window: Window, check: FeatureDriftCheck, min_samples: int) -> CheckOutcome:
    numeric, categorical, references = numeric_features(window), categorical_features(window), reference_bins(window)
    wanted, threshold = check.features, check.threshold
    outcomes = []
    for feature in sorted(set(numeric) | set(categorical)):
        if (wanted is not None and feature not in wanted) or not references.get(feature):
            continue
        reference = references[feature]
        size = _reference_size(window, feature)
        if feature in numeric:
            keys, counts = histogram(numeric[feature])
            method: DriftMethod = check.numeric_method
            kind: FeatureKind = "numeric"
        else:
            keys = sorted(set(categorical[feature]) | set(reference))
            counts = [categorical[feature].get(k, 0.0) for k in keys]
            method = check.categorical_method
            kind = "categorical"
        verdict = _compare_to_reference(method, kind, reference, size, keys, counts, threshold)
        rows = sum(counts)
        drifted = verdict.drifted if rows >= min_samples else None
        outcomes.append(
            FeatureOutcome(
                feature,
                kind,
                method,
                verdict.score,
                verdict.threshold,
                drifted,
                rows,
                statistic=verdict.statistic,
                p_value=verdict.p_value,
            )
        )
    if not outcomes:
        return CheckOutcome(
            Check.FEATURE_DRIFT, Verdict.ERROR, message="the server exports no feature with a reference"
        )
    judged = [o for o in outcomes if o.drifted is not None]
    if not judged:
        return CheckOutcome(
            Check.FEATURE_DRIFT,
            Verdict.NOT_ENOUGH_DATA,
            message=f"fewer than {min_samples} values per feature",
            features=outcomes,
        )
    drifted_features = [o.feature for o in judged if o.drifted]
    share, needed = len(drifted_features) / len(judged), check.drifted_share
    message = f"{len(drifted_features)} of {len(judged)} features drifted" + (
        f" ({', '.join(drifted_features[:8])}{', ...' if len(drifted_features) > 8 else ''})"
        if drifted_features
        else ""
    )
    return CheckOutcome(
        Check.FEATURE_DRIFT,
        Verdict.DRIFT if share >= needed and drifted_features else Verdict.NO_DRIFT,
        score=share,
        threshold=needed,
        message=message,
        features=outcomes,
    )


def prediction_drift(window: Window, check: PredictionDriftCheck, min_samples: int) -> CheckOutcome:
    method, threshold = check.method, check.threshold
    reference = {key[0]: value for key, value in by_label(window.reference, REFERENCE_PREDICTIONS, "bin").items()}
    classes = {key[0]: value for key, value in by_label(window.counts, PREDICTION_CLASSES, "class").items()}
    buckets = {key[0]: value for key, value in by_label(window.counts, PREDICTION_BUCKETS, "le").items()}
    if not reference or not (classes or buckets):
        return CheckOutcome(Check.PREDICTION_DRIFT, Verdict.ERROR, message="the server exports no prediction reference")
    size = _reference_size(window, None)
    try:
        if classes:
            keys = sorted(set(classes) | set(reference))
            counts = [classes.get(k, 0.0) for k in keys]
            verdict = _compare_to_reference(method, "categorical", reference, size, keys, counts, threshold)
        else:
            keys, counts = histogram(buckets)
            verdict = _compare_to_reference(method, "numeric", reference, size, keys, counts, threshold)
    except ValueError as error:  # a numeric-only method on a classifier's classes, or the reverse
        return CheckOutcome(Check.PREDICTION_DRIFT, Verdict.ERROR, message=str(error))
    if sum(counts) < min_samples:
        return CheckOutcome(
            Check.PREDICTION_DRIFT,
            Verdict.NOT_ENOUGH_DATA,
            message=f"{sum(counts):.0f} predictions, fewer than {min_samples}",
        )
    return CheckOutcome(
        Check.PREDICTION_DRIFT,
        Verdict.DRIFT if verdict.drifted else Verdict.NO_DRIFT,
        score=verdict.score,
        threshold=verdict.threshold,
        message=f"{method} of the predictions' distribution",
    )


def integrity(window: Window, check: IntegrityCheck, min_samples: int) -> CheckOutcome:
    """Missing values (beyond the training data's own share), numeric values outside the
    training range, categories never seen in training: each as a share of the window's rows."""
    rows = window.rows
    if rows < min_samples:
        return CheckOutcome(
            Check.INTEGRITY, Verdict.NOT_ENOUGH_DATA, message=f"{rows:.0f} rows, fewer than {min_samples}"
        )
    limits = {
        "null": check.max_null_rate,
        "outOfRange": check.max_out_of_range_rate,
        "unseen": check.max_unseen_category_rate,
    }
    # Training data may have gaps of its own: only missing values beyond its share count.
    trained_missing = {key[0]: value for key, value in by_label(window.reference, REFERENCE_MISSING, "feature").items()}
    rates: list[tuple[str, str, float]] = [
        ("null", feature, max(count / rows - trained_missing.get(feature, 0.0), 0.0))
        for (feature,), count in by_label(window.counts, FEATURE_MISSING, "feature").items()
    ]
    references = reference_bins(window)
    for feature, cumulative in numeric_features(window).items():
        keys, counts = histogram(cumulative)
        present, reference = sum(counts), references.get(feature)
        if present <= 0 or not reference or len(keys) < 2:
            continue
        # Bucket 0 is (-inf, min] and the +Inf bucket (max, inf): the training data put at most
        # its own share there, so only the excess over that share is out of range.
        below = max(counts[0] / present - reference.get(keys[0], 0.0), 0.0)
        above = max(counts[-1] / present - reference.get(keys[-1], 0.0), 0.0)
        rates.append(("outOfRange", feature, below + above))
    for feature, categories in categorical_features(window).items():
        present = sum(categories.values())
        if present > 0:
            rates.append(("unseen", feature, categories.get(UNSEEN, 0.0) / present))
    if not rates:
        return CheckOutcome(Check.INTEGRITY, Verdict.NO_DRIFT, score=0.0, message="no feature to check")
    broken = sorted(
        ((rate / limits[kind], kind, feature, rate) for kind, feature, rate in rates if rate > limits[kind]),
        reverse=True,
    )
    worst = max(rates, key=lambda item: item[2] / max(limits[item[0]], 1e-12))
    if broken:
        _, kind, feature, rate = broken[0]
        return CheckOutcome(
            Check.INTEGRITY,
            Verdict.DRIFT,
            score=rate,
            threshold=limits[kind],
            message=f"{len(broken)} violation(s); worst: {kind} rate of {feature} is {rate:.3f} (limit {limits[kind]})",
        )
    kind, feature, rate = worst
    return CheckOutcome(
        Check.INTEGRITY,
        Verdict.NO_DRIFT,
        score=rate,
        threshold=limits[kind],
        message=f"highest: {kind} rate of {feature} is {rate:.3f} (limit {limits[kind]})",
    )


def accuracy(window: Window, check: AccuracyCheck, offline_accuracy: float | None, min_samples: int) -> CheckOutcome:
    """Accuracy of the labelled predictions (the feedback endpoint) against training's accuracy.
    A window of fewer than minSamples rows is not enough data however many labels came: labels
    alone must not answer no drift where every other check waits for rows."""
    if window.rows < min_samples:
        return CheckOutcome(
            Check.ACCURACY, Verdict.NOT_ENOUGH_DATA, message=f"{window.rows:.0f} rows, fewer than {min_samples}"
        )
    confusion = by_label(window.counts, CONFUSION, "true_class", "predicted_class")
    labels = sum(confusion.values())
    min_labels = check.min_labels
    if labels < min_labels:
        return CheckOutcome(
            Check.ACCURACY, Verdict.NOT_ENOUGH_DATA, message=f"{labels:.0f} labels, fewer than {min_labels}"
        )
    live = sum(count for (true, predicted), count in confusion.items() if true == predicted) / labels
    return _against_limits(
        Check.ACCURACY,
        live,
        check.min_accuracy,
        check.max_drop,
        offline_accuracy,
        f"{live:.3f} on {labels:.0f} labels",
    )


def estimated_accuracy(
    window: Window, check: EstimatedAccuracyCheck, offline_accuracy: float | None, min_samples: int
) -> CheckOutcome:
    """Confidence-based performance estimation: the mean probability of the predicted class is
    the accuracy a calibrated classifier expects, with no label needed."""
    count = window.counts.get((MAX_PROBABILITY_COUNT, ()), 0.0)
    if (MAX_PROBABILITY_COUNT, ()) not in window.counts:
        return CheckOutcome(
            Check.ESTIMATED_ACCURACY,
            Verdict.ERROR,
            message="the server exports no predicted probabilities "
            "(a regressor, or a classifier without predict_proba)",
        )
    if count < min_samples:
        return CheckOutcome(
            Check.ESTIMATED_ACCURACY,
            Verdict.NOT_ENOUGH_DATA,
            message=f"{count:.0f} predictions, fewer than {min_samples}",
        )
    estimate = window.counts.get((MAX_PROBABILITY_SUM, ()), 0.0) / count
    return _against_limits(
        Check.ESTIMATED_ACCURACY,
        estimate,
        None,
        check.max_drop,
        offline_accuracy,
        f"mean confidence {estimate:.3f} over {count:.0f} predictions",
    )


def _against_limits(
    name: Check, value: float, minimum: float | None, max_drop: float | None, offline: float | None, what: str
) -> CheckOutcome:
    limits = [
        limit
        for limit in (minimum, None if max_drop is None or offline is None else offline - max_drop)
        if limit is not None
    ]
    if not limits:
        return CheckOutcome(
            name,
            Verdict.ERROR,
            score=value,
            message=f"{what}; no limit: set minAccuracy, or train with an accuracy metric",
        )
    floor = max(limits)
    against = f" (training: {offline:.3f})" if offline is not None else ""
    return CheckOutcome(
        name,
        Verdict.DRIFT if value < floor else Verdict.NO_DRIFT,
        score=value,
        threshold=floor,
        message=f"{what}{against}, limit {floor:.3f}",
    )
