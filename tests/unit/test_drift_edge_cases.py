"""Thin, empty, constant and dirty inputs: a defined answer every time, never NaN or an exception."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ballast.drift import (
    BinCounts,
    chi_square,
    chi_square_binned,
    compare_binned,
    compare_samples,
    count_into_buckets,
    jensen_shannon_binned,
    kolmogorov_smirnov,
    kolmogorov_smirnov_binned,
    numeric_sample,
    psi_binned,
    psi_categorical,
    psi_numeric,
    wasserstein,
    wasserstein_binned,
)

NUMERIC = ("psi", "jensenShannon", "wasserstein", "ks")
CATEGORICAL = ("psi", "jensenShannon", "chiSquare")
EDGES = np.array([0.0, 1.0, 2.0, 3.0])


@pytest.mark.parametrize("method", NUMERIC)
@pytest.mark.parametrize(
    "reference, current", [([1.0, 2.0, 3.0], []), ([], [1.0, 2.0]), ([], []), ([1.0, 2.0], [np.nan, np.nan])]
)
def test_an_empty_side_of_raw_numbers_is_not_enough_data(method, reference, current):
    verdict = compare_samples(method, np.array(reference), np.array(current), kind="numeric")
    assert verdict.score is None and verdict.drifted is None
    assert verdict.reason.startswith("not enough data")


@pytest.mark.parametrize("method", NUMERIC)
@pytest.mark.parametrize("reference, current", [([1, 5, 5, 0, 0], [0, 0, 0, 0, 0]), ([0, 0, 0, 0, 0], [1, 2, 3, 4, 5])])
def test_an_empty_window_of_counts_is_not_enough_data(method, reference, current):
    verdict = compare_binned(method, reference, current, kind="numeric", edges=EDGES)
    assert (verdict.score, verdict.drifted) == (None, None)
    assert "not enough data" in verdict.reason


@pytest.mark.parametrize("method", CATEGORICAL)
def test_an_empty_categorical_window_is_not_enough_data(method):
    verdict = compare_samples(
        method, np.array(["a", "b"], dtype=object), np.array([None, np.nan], dtype=object), kind="categorical"
    )
    assert (verdict.score, verdict.drifted) == (None, None)
    assert verdict.details["current_missing"] == 2


def test_ratios_of_a_reference_without_present_values_are_not_enough_data():
    # The server exports 0.0 for every bucket when the training column was entirely missing.
    verdict = compare_binned("psi", BinCounts.from_ratios([0.0, 0.0, 0.0], size=100), [3, 4, 5], kind="categorical")
    assert verdict.drifted is None and "reference" in verdict.reason


def test_nans_are_dropped_and_counted():
    rng = np.random.default_rng(2)
    reference, current = rng.normal(size=500), rng.normal(0.5, 1, size=400)
    dirty = np.concatenate([current, [np.nan] * 7, [np.inf, -np.inf]])
    for statistic in (psi_numeric, kolmogorov_smirnov, wasserstein):
        clean, noisy = statistic(reference, current), statistic(reference, dirty)
        assert noisy.score == clean.score
        assert noisy.details["current_missing"] == 7 and noisy.details["current_infinite"] == 2
        assert noisy.details["reference_missing"] == 0


def test_missing_categories_are_dropped_and_counted():
    reference = np.array(["a", "b", "a", None], dtype=object)
    current = np.array(["a", np.nan, "b", pd.NA, float("nan"), "c"], dtype=object)
    result = psi_categorical(reference, current)
    assert result.details["reference_missing"] == 1 and result.details["current_missing"] == 3
    assert result.details["current_size"] == 3 and math.isfinite(result.score)
    codes = psi_categorical(np.array([0.0, 1.0, np.nan]), np.array([1.0, np.nan, np.nan]))
    assert codes.details["current_missing"] == 2 and codes.details["current_size"] == 1


def test_nan_bucket_counts_are_empty_buckets_and_counted():
    result = psi_binned([10, 20, 30], [5, np.nan, 5])
    assert result.details["current_nan_bins"] == 1
    assert result.score == psi_binned([10, 20, 30], [5, 0, 5]).score


def test_a_single_valued_reference_gives_defined_scores():
    reference = np.full(300, 4.2)
    same, moved = np.full(50, 4.2), np.concatenate([np.full(25, 4.2), np.full(25, 5.0)])
    for method in NUMERIC:
        unchanged, changed = (compare_samples(method, reference, current, kind="numeric") for current in (same, moved))
        assert unchanged.drifted is False and changed.drifted is True, method
        assert all(math.isfinite(v.score) for v in (unchanged, changed)), method
    # The profile gives such a feature the single edge [4.2]: buckets (-inf, 4.2] and (4.2, +inf).
    edges = np.array([4.2])
    r, c = count_into_buckets(numeric_sample(reference), edges), count_into_buckets(numeric_sample(moved), edges)
    assert compare_binned("psi", r, c, kind="numeric").drifted is True
    assert compare_binned("ks", r, c, kind="numeric").drifted is True
    assert kolmogorov_smirnov_binned(r, c).score == 0.5
    no_scale = compare_binned("wasserstein", r, c, kind="numeric", edges=edges)
    assert no_scale.score is None and no_scale.drifted is None and "single value" in no_scale.reason


def test_identical_distributions_score_no_drift():
    values = np.random.default_rng(4).normal(size=1000)
    assert psi_numeric(values, values).score == 0.0
    assert kolmogorov_smirnov(values, values).score == 0.0 and kolmogorov_smirnov(values, values).p_value == 1.0
    assert wasserstein(values, values).score == 0.0
    assert chi_square_binned([5, 5, 0], [10, 10, 0]).score == 0.0
    assert jensen_shannon_binned([1, 2, 3], [2, 4, 6]).score == 0.0


def test_empty_bins_keep_psi_and_chi_square_finite():
    # A category the reference never had (the server's __unseen__) and one both sides lack.
    reference, current = [50, 50, 0, 0], [40, 40, 20, 0]
    psi = psi_binned(reference, current)
    assert math.isfinite(psi.score) and psi.score <= 0.2 * math.log(0.2 / 1e-4) + 0.1
    assert psi.details["floored_bins"] == 2
    exact = chi_square_binned(BinCounts.from_ratios([0.5, 0.5, 0.0, 0.0]), current)
    assert math.isfinite(exact.score) and exact.p_value < 1e-10
    assert exact.details["degrees_of_freedom"] == 2 and exact.details["test"] == "goodnessOfFit"
    sampled = chi_square_binned(BinCounts.from_ratios([0.5, 0.5, 0.0, 0.0], size=100), current)
    assert sampled.details["test"] == "homogeneity" and math.isfinite(sampled.score)


def test_one_category_on_both_sides_leaves_nothing_to_test():
    result = chi_square(np.array(["a"] * 5, dtype=object), np.array(["a"] * 3, dtype=object))
    assert (result.score, result.p_value, result.details["degrees_of_freedom"]) == (0.0, 1.0, 0)


def test_malformed_counts_raise():
    with pytest.raises(ValueError, match="non-negative"):
        psi_binned([1, -1, 2], [1, 1, 1])
    with pytest.raises(ValueError, match="bins"):
        psi_binned([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="edges"):
        wasserstein_binned([1, 2, 3], [1, 2, 3], [1.0])
    with pytest.raises(ValueError, match="increasing"):
        wasserstein_binned([1, 2, 3], [1, 2, 3], [2.0, 1.0])
    with pytest.raises(ValueError, match="not a drift method"):
        compare_binned("ks", [1, 2], [1, 2], kind="categorical")
    with pytest.raises(ValueError, match="needs the buckets' edges"):
        compare_binned("wasserstein", [1, 2], [1, 2], kind="numeric")


COUNTS = st.one_of(st.integers(0, 10**9), st.just(0), st.floats(0, 1e6), st.just(math.nan))


@settings(max_examples=150, deadline=None)
@given(st.lists(COUNTS, min_size=2, max_size=12), st.data())
def test_no_counts_make_a_nan_score(reference, data):
    current = data.draw(st.lists(COUNTS, min_size=len(reference), max_size=len(reference)))
    edges = np.arange(len(reference) - 1, dtype=float)
    for kind, methods in (("numeric", NUMERIC), ("categorical", CATEGORICAL)):
        for method in methods:
            verdict = compare_binned(method, reference, current, kind=kind, edges=edges)
            assert verdict.score is None or math.isfinite(verdict.score), (method, verdict)
            assert (verdict.score is None) == (verdict.drifted is None)
            assert all(not isinstance(v, float) or math.isfinite(v) for v in verdict.details.values()), verdict
