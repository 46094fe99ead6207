"""Every drift statistic on raw data against scipy's implementation (property-based)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon

from ballast.drift import (
    BinCounts,
    chi_square,
    chi_square_binned,
    count_into_buckets,
    jensen_shannon_binned,
    jensen_shannon_categorical,
    jensen_shannon_numeric,
    kolmogorov_smirnov,
    numeric_sample,
    psi_binned,
    psi_categorical,
    psi_numeric,
    quantile_edges,
    wasserstein,
)
from ballast.drift.pvalues import chi_square_survival, kolmogorov_survival, regularized_upper_gamma

EXAMPLES = settings(max_examples=60, deadline=None)


@st.composite
def samples(draw: st.DrawFn, min_size: int = 1, max_size: int = 300) -> np.ndarray:
    """Continuous, heavily tied (integers) or mixed samples, at a random location and scale."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    size = draw(st.integers(min_size, max_size))
    shape = draw(st.sampled_from(["normal", "integers", "exponential", "mixed"]))
    if shape == "normal":
        values = rng.normal(size=size)
    elif shape == "integers":
        values = rng.integers(0, draw(st.integers(1, 8)), size=size).astype(float)
    elif shape == "exponential":
        values = rng.exponential(size=size)
    else:
        values = np.where(rng.random(size) < 0.5, rng.normal(size=size), np.round(rng.normal(size=size)))
    return values * draw(st.sampled_from([1e-3, 1.0, 250.0])) + draw(st.sampled_from([0.0, 3.0, -1e4]))


@st.composite
def labels(draw: st.DrawFn, max_size: int = 300) -> np.ndarray:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    categories = np.array([f"c{i}" for i in range(draw(st.integers(1, 8)))], dtype=object)
    weights = rng.dirichlet(np.ones(len(categories)))
    return rng.choice(categories, size=draw(st.integers(1, max_size)), p=weights)


@EXAMPLES
@given(samples(), samples())
def test_ks_statistic_is_scipys_exactly(reference, current):
    result = kolmogorov_smirnov(reference, current)
    assert result.score == pytest.approx(scipy.stats.ks_2samp(reference, current).statistic, abs=1e-12)


@EXAMPLES
@given(samples(min_size=50), samples(min_size=50))
def test_ks_p_value_is_close_to_scipys_asymptotic_one(reference, current):
    result = kolmogorov_smirnov(reference, current)
    expected = scipy.stats.ks_2samp(reference, current, method="asymp").pvalue
    # Stephens' approximation against scipy's kstwo.sf(d, round(n)): the gap shrinks like
    # 1/sqrt(n); measured at most 0.033 at n = 50 and 0.0022 at n = 10,000 (docs/drift.md).
    n = len(reference) * len(current) / (len(reference) + len(current))
    assert result.p_value == pytest.approx(expected, abs=0.25 / math.sqrt(n))


def test_ks_p_value_agrees_with_scipy_on_large_samples():
    rng = np.random.default_rng(3)
    for shift in (0.0, 0.01, 0.02, 0.05):
        reference, current = rng.normal(size=20_000), rng.normal(shift, 1, size=15_000)
        expected = scipy.stats.ks_2samp(reference, current)
        result = kolmogorov_smirnov(reference, current)
        assert result.score == expected.statistic
        assert result.p_value == pytest.approx(expected.pvalue, rel=0.02, abs=1e-4)


@pytest.mark.parametrize("scaled", [1e-3, 0.2, 0.5, 0.8, 1.0, 1.17, 1.19, 1.5, 2.0, 3.0, 5.0])
def test_kolmogorov_survival_is_scipys(scaled):
    assert kolmogorov_survival(scaled) == pytest.approx(scipy.special.kolmogorov(scaled), rel=1e-10, abs=1e-15)


@EXAMPLES
@given(samples(), samples())
def test_wasserstein_is_scipys(reference, current):
    expected = scipy.stats.wasserstein_distance(reference, current)
    assert wasserstein(reference, current).score == pytest.approx(
        expected, rel=1e-9, abs=1e-9 * (1 + np.abs(np.concatenate([reference, current])).max())
    )


@EXAMPLES
@given(samples(), samples(), st.integers(1, 20))
def test_numeric_jensen_shannon_is_scipys_on_the_same_bins(reference, current, bins):
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)))
    buckets = np.concatenate(([-np.inf], edges, [np.inf]))
    # An independent count: numpy.histogram with right-closed bins is digitize(right=True).
    count = lambda values: np.bincount(np.digitize(values, edges, right=True), minlength=len(buckets) - 1)
    expected = jensenshannon(count(reference), count(current), base=2)
    assert jensen_shannon_numeric(reference, current, bins=bins).score == pytest.approx(expected, abs=1e-9)


@EXAMPLES
@given(labels(), labels())
def test_categorical_jensen_shannon_is_scipys(reference, current):
    categories = sorted(set(reference) | set(current))
    count = lambda values: np.array([np.sum(values == c) for c in categories])
    expected = jensenshannon(count(reference), count(current), base=2)
    assert jensen_shannon_categorical(reference, current).score == pytest.approx(expected, abs=1e-9)


def reference_psi(reference_counts, current_counts, epsilon=1e-4):
    """The textbook formula, one bin at a time."""
    total_r, total_c = sum(reference_counts), sum(current_counts)
    value = 0.0
    for r, c in zip(reference_counts, current_counts):
        r, c = max(r / total_r, epsilon), max(c / total_c, epsilon)
        value += (c - r) * math.log(c / r)
    return value


@EXAMPLES
@given(samples(), samples(), st.integers(1, 20))
def test_numeric_psi_is_the_textbook_formula_on_reference_deciles(reference, current, bins):
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)))
    count = lambda values: np.bincount(np.digitize(values, edges, right=True), minlength=len(edges) + 1).tolist()
    assert psi_numeric(reference, current, bins=bins).score == pytest.approx(
        reference_psi(count(reference), count(current)), rel=1e-9, abs=1e-12
    )


@EXAMPLES
@given(labels(), labels())
def test_categorical_psi_is_the_textbook_formula(reference, current):
    categories = sorted(set(reference) | set(current))
    count = lambda values: [int(np.sum(values == c)) for c in categories]
    assert psi_categorical(reference, current).score == pytest.approx(
        reference_psi(count(reference), count(current)), rel=1e-9, abs=1e-12
    )


@EXAMPLES
@given(labels(), labels())
def test_chi_square_is_scipys_contingency_test(reference, current):
    categories = sorted(set(reference) | set(current))
    table = np.array([[np.sum(values == c) for c in categories] for values in (reference, current)])
    result = chi_square(reference, current)
    if len(categories) < 2:
        assert (result.score, result.p_value) == (0.0, 1.0)
        return
    expected = scipy.stats.chi2_contingency(table, correction=False)
    assert result.score == pytest.approx(expected.statistic, rel=1e-9, abs=1e-9)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-8, abs=1e-300)
    assert result.details["degrees_of_freedom"] == expected.dof


@EXAMPLES
@given(st.lists(st.integers(1, 1000), min_size=2, max_size=12), st.data())
def test_chi_square_against_exact_reference_shares_is_scipys_goodness_of_fit(reference, data):
    current = data.draw(st.lists(st.integers(0, 1000), min_size=len(reference), max_size=len(reference)))
    if sum(current) == 0:
        return
    ratios = np.array(reference) / sum(reference)
    result = chi_square_binned(BinCounts.from_ratios(ratios), current)
    expected = scipy.stats.chisquare(current, ratios * sum(current))
    assert result.score == pytest.approx(expected.statistic, rel=1e-9, abs=1e-9)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-8, abs=1e-300)


@settings(max_examples=200, deadline=None)
@given(st.floats(0.05, 500), st.floats(0, 2000))
def test_regularized_upper_gamma_is_scipys(a, x):
    assert regularized_upper_gamma(a, x) == pytest.approx(scipy.special.gammaincc(a, x), rel=1e-9, abs=1e-300)


@pytest.mark.parametrize("degrees", [1, 2, 3, 10, 49, 200])
def test_chi_square_survival_is_scipys_far_into_the_tail(degrees):
    for statistic in (0.01, 1.0, degrees, 3.0 * degrees, 10.0 * degrees + 50):
        expected = scipy.stats.chi2.sf(statistic, degrees)
        assert chi_square_survival(statistic, degrees) == pytest.approx(expected, rel=1e-9, abs=1e-300)


@EXAMPLES
@given(st.lists(st.integers(0, 50), min_size=1, max_size=12), st.data())
def test_binned_jensen_shannon_and_psi_take_counts_as_scipy_does(reference, data):
    current = data.draw(st.lists(st.integers(0, 50), min_size=len(reference), max_size=len(reference)))
    if sum(reference) == 0 or sum(current) == 0:
        return
    assert jensen_shannon_binned(reference, current).score == pytest.approx(
        jensenshannon(reference, current, base=2), abs=1e-9
    )
    assert psi_binned(reference, current).score == pytest.approx(reference_psi(reference, current), rel=1e-9, abs=1e-12)


def test_raw_numeric_bins_are_the_training_profiles():
    """Raw PSI and JS bin on the profile's edges, so a window scored raw and from counters agree."""
    from ballast.data.profile import numeric_statistics

    values = np.random.default_rng(5).gamma(2.0, size=5_000)
    assert quantile_edges(numeric_sample(values)).tolist() == numeric_statistics(values, "float", 10)["binEdges"]
    counts = count_into_buckets(numeric_sample(values), quantile_edges(numeric_sample(values)))
    assert counts.size == 5_000 and len(counts) == 12
