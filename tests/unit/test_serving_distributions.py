"""Requests hold what they saw; a settle counts it exactly as counting each request would have."""

from __future__ import annotations

import numpy as np

from ballast.serving import distributions
from ballast.serving.buckets import CategoryBuckets, FeatureBuckets, NumericEdges
from ballast.serving.distributions import Distributions
from ballast.serving.predictor import Prediction
from ballast.serving.tensors import FeatureBatch

CLASSES = ("no", "yes")
COUNTS = (
    "feature_counts",
    "feature_missing",
    "category_counts",
    "category_missing",
    "class_counts",
    "probability_counts",
)


def _fresh() -> Distributions:
    buckets = FeatureBuckets(
        numeric=NumericEdges.of(["a", "b"], [(0.0, 1.0), (-1.0, 0.0, 1.0, 2.0)]),
        categorical=(CategoryBuckets.of("colour", ["red"], ["red", "blue"]),),
    )
    return Distributions(buckets, CLASSES, ())


def _request(rng: np.random.Generator, rows: int) -> tuple[FeatureBatch, Prediction]:
    numeric = rng.normal(size=(rows, 2))
    numeric[rng.random((rows, 2)) < 0.1] = np.nan
    categorical = rng.choice(np.array(["red", "blue", "green", np.nan], dtype=object), size=(rows, 1))
    yes = rng.random(rows)
    probabilities = np.stack([1 - yes, yes], axis=1)
    labels = np.array(CLASSES, dtype=object)[(yes > 0.5).astype(int)]
    return FeatureBatch(rows, numeric, categorical), Prediction(labels, probabilities)


def _snapshot(counts: Distributions) -> dict[str, list]:
    found = {name: np.asarray(getattr(counts, name), dtype=object).tolist() for name in COUNTS}
    return found | {"rows": counts.rows, "sums": np.round(counts.feature_sums, 9).tolist()}


def test_held_requests_count_only_when_settled_and_then_as_if_counted_one_by_one() -> None:
    rng = np.random.default_rng(3)
    requests = [_request(rng, rows) for rows in (1, 7, 1, 30, 2)]
    counted, held = _fresh(), _fresh()
    for batch, prediction in requests:
        counted.record_features(batch)
        counted.record_prediction(prediction)
        held.hold(batch, prediction)
    assert held.rows == 0 and not held.class_counts.any()
    assert _snapshot(held.settle()) == _snapshot(counted)
    assert counted.rows == 41 and counted.class_counts.sum() == 41
    assert _snapshot(held.settle()) == _snapshot(counted)  # nothing is counted twice


def test_holding_is_bounded_a_request_past_the_limit_settles_everything_held(monkeypatch) -> None:
    monkeypatch.setattr(distributions, "HELD_VALUES", 30)  # 10 rows of 2 numeric and 1 categorical feature
    monkeypatch.setattr(distributions, "HOLDS_PER_SETTLE", 2)
    rng = np.random.default_rng(4)
    held = _fresh()
    held.hold(*_request(rng, 5))
    assert held.rows == 0
    held.hold(*_request(rng, 5))
    assert held.rows == 10 and held.class_counts.sum() == 10


def test_a_request_too_large_to_hold_often_enough_is_counted_at_once(monkeypatch) -> None:
    monkeypatch.setattr(distributions, "HELD_VALUES", 30)
    monkeypatch.setattr(distributions, "HOLDS_PER_SETTLE", 2)
    rng = np.random.default_rng(5)
    held = _fresh()
    held.hold(*_request(rng, 2))
    held.hold(*_request(rng, 6))  # two of six rows would not fit in ten
    assert held.rows == 6
    assert held.settle().rows == 8
