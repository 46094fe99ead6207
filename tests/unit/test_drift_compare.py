"""The dispatcher: method names of the DriftPolicy API, default thresholds, verdicts."""

from __future__ import annotations

import numpy as np
import pytest

from ballast.api.driftpolicy import CategoricalMethod, NumericMethod
from ballast.drift import (
    METHODS,
    BinCounts,
    compare_binned,
    compare_samples,
    count_into_buckets,
    numeric_sample,
    quantile_edges,
)
from ballast.drift.compare import verdict
from ballast.drift.score import DriftScore
from ballast.serving.buckets import NumericEdges, le_labels

NUMERIC = NumericMethod.__args__
CATEGORICAL = CategoricalMethod.__args__


def test_every_api_method_has_defaults():
    assert set(NUMERIC) | set(CATEGORICAL) == set(METHODS)
    assert {name: (m.threshold, m.higher_is_drift, m.warning) for name, m in METHODS.items()} == {
        "psi": (0.25, True, 0.1),
        "jensenShannon": (0.1, True, None),
        "wasserstein": (0.1, True, None),
        "ks": (0.05, False, None),
        "chiSquare": (0.05, False, None),
    }


def test_distances_drift_at_or_above_and_p_values_below_the_threshold():
    psi = METHODS["psi"]
    assert verdict(DriftScore("psi", 0.25), psi).drifted is True
    assert verdict(DriftScore("psi", 0.2), psi).drifted is False
    assert verdict(DriftScore("psi", 0.12), psi).warning is True
    assert verdict(DriftScore("psi", 0.2), psi, threshold=0.15).drifted is True
    ks = METHODS["ks"]
    tested = verdict(DriftScore("ks", 0.3, p_value=0.01), ks)
    assert (tested.score, tested.drifted, tested.details["statistic"]) == (0.01, True, 0.3)
    assert verdict(DriftScore("ks", 0.01, p_value=0.5), ks).drifted is False


def test_wasserstein_is_normed_by_the_reference_std_with_evidentlys_floor():
    w = METHODS["wasserstein"]
    assert verdict(DriftScore("wasserstein", 0.5, details={"reference_std": 2.0}), w).score == 0.25
    assert verdict(DriftScore("wasserstein", 0.5, details={"reference_std": 2.0}), w, reference_std=5.0).score == 0.1
    assert verdict(DriftScore("wasserstein", 0.5, details={"reference_std": 0.0}), w).score == pytest.approx(500.0)


def test_no_false_alarm_on_the_training_distribution_and_an_alarm_on_a_shift():
    rng = np.random.default_rng(8)
    reference = rng.normal(10, 2, size=50_000)
    for window in range(3):
        same = rng.normal(10, 2, size=5_000)
        for method in NUMERIC:
            assert compare_samples(method, reference, same, kind="numeric").drifted is False, (window, method)
    shifted = rng.normal(12, 2, size=5_000)  # one standard deviation: PSI ~0.5 on deciles
    for method in NUMERIC:
        assert compare_samples(method, reference, shifted, kind="numeric").drifted is True, method
    categories = np.array(["red", "green", "blue"], dtype=object)
    base = rng.choice(categories, size=50_000, p=[0.5, 0.3, 0.2])
    same, moved = rng.choice(categories, 5_000, p=[0.5, 0.3, 0.2]), rng.choice(categories, 5_000, p=[0.25, 0.3, 0.45])
    for method in CATEGORICAL:
        assert compare_samples(method, base, same, kind="categorical").drifted is False, method
        assert compare_samples(method, base, moved, kind="categorical").drifted is True, method


def test_the_servers_reference_ratios_and_window_counts_compare_as_raw_samples_do():
    """The shape of docs/metrics.md: reference ratios by `le` label, reference rows and missing
    ratio, and the window's de-cumulated bucket increases."""
    rng = np.random.default_rng(9)
    training = rng.gamma(2.0, 3.0, size=20_000)
    training[rng.random(len(training)) < 0.02] = np.nan
    live = rng.gamma(2.2, 3.0, size=3_000)
    edges = quantile_edges(numeric_sample(training))
    server = NumericEdges.of(["x"], [edges.tolist()])
    reference_counts, reference_missing, _ = server.count(training.reshape(-1, 1))
    ratio_gauges = dict(zip(le_labels(edges), (reference_counts[0] / reference_counts[0].sum()).tolist()))
    reference_rows, missing_ratio = len(training), reference_missing[0] / len(training)
    window_counts, _, _ = server.count(live.reshape(-1, 1))

    reference = BinCounts.from_ratios(list(ratio_gauges.values()), size=reference_rows * (1 - missing_ratio))
    for method in NUMERIC:
        from_counters = compare_binned(method, reference, window_counts[0], kind="numeric", edges=edges)
        from_samples = compare_binned(
            method,
            count_into_buckets(numeric_sample(training), edges),
            count_into_buckets(numeric_sample(live), edges),
            kind="numeric",
            edges=edges,
        )
        assert from_counters.score == pytest.approx(from_samples.score, rel=1e-9), method
        assert from_counters.drifted == from_samples.drifted
        if method in ("psi", "jensenShannon"):
            raw = compare_samples(method, training, live, kind="numeric")
            assert from_counters.score == pytest.approx(raw.score, rel=1e-9), method
