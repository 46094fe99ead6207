"""The binned forms against the raw ones: exact where the statistic is defined on bins, within
the documented bounds where binning loses information (KS, Wasserstein)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from ballast.drift import (
    BinCounts,
    chi_square,
    chi_square_binned,
    count_into_buckets,
    jensen_shannon_binned,
    jensen_shannon_numeric,
    kolmogorov_smirnov,
    kolmogorov_smirnov_binned,
    numeric_sample,
    psi_binned,
    psi_numeric,
    quantile_edges,
    wasserstein,
    wasserstein_binned,
)
from ballast.serving.buckets import NumericEdges

EXAMPLES = settings(max_examples=80, deadline=None)
TOLERANCE = 1e-9


@st.composite
def sample_pairs(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A reference, a shifted/scaled/tied current, and bucket edges: the reference's quantiles
    (as the profile makes them) or arbitrary ones, so values also fall in the open buckets."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    reference = rng.normal(size=draw(st.integers(1, 400)))
    current = rng.normal(draw(st.floats(-3, 3)), draw(st.floats(0.1, 3)), size=draw(st.integers(1, 400)))
    if draw(st.booleans()):
        reference, current = np.round(reference * 2) / 2, np.round(current * 2) / 2
    if draw(st.booleans()):
        edges = quantile_edges(numeric_sample(reference), draw(st.integers(1, 30)))
    else:
        edges = np.unique(rng.uniform(-4, 4, size=draw(st.integers(1, 30))))
    return reference, current, edges


def binned(values: np.ndarray, edges: np.ndarray) -> BinCounts:
    return count_into_buckets(numeric_sample(values), edges)


@EXAMPLES
@given(sample_pairs())
def test_binned_ks_brackets_the_raw_statistic(pair):
    reference, current, edges = pair
    raw = kolmogorov_smirnov(reference, current)
    result = kolmogorov_smirnov_binned(binned(reference, edges), binned(current, edges))
    r, c = binned(reference, edges).shares, binned(current, edges).shares
    assert result.score <= raw.score + TOLERANCE
    assert raw.score <= result.details["statistic_upper_bound"] + TOLERANCE
    assert result.details["statistic_upper_bound"] <= result.score + np.maximum(r, c).max() + TOLERANCE
    # Fewer differences seen means a larger p-value: binned tests never fire more than raw ones.
    assert result.details["p_value_lower_bound"] - TOLERANCE <= raw.p_value <= result.p_value + TOLERANCE


@EXAMPLES
@given(sample_pairs())
def test_binned_wasserstein_is_within_its_bound_of_the_clipped_raw_distance(pair):
    reference, current, edges = pair
    result = wasserstein_binned(binned(reference, edges), binned(current, edges), edges)
    if len(edges) < 2:
        assert result.score is None and "single value" in result.reason
        return
    clipped = scipy.stats.wasserstein_distance(
        np.clip(reference, edges[0], edges[-1]), np.clip(current, edges[0], edges[-1])
    )
    lower, upper = result.details["lower_bound"], result.details["upper_bound"]
    r, c = binned(reference, edges).shares[1:-1], binned(current, edges).shares[1:-1]
    widths = np.diff(edges)
    assert lower - TOLERANCE <= clipped <= upper + TOLERANCE
    assert abs(result.score - clipped) <= upper - lower + TOLERANCE
    assert upper - lower <= np.dot(widths, r + c) + TOLERANCE <= 2 * widths.max() + TOLERANCE
    # Clipping only brings values closer, so the binned lower bound holds for the raw distance too.
    assert lower <= wasserstein(reference, current).score + TOLERANCE


def test_binned_wasserstein_is_close_on_fine_bins():
    rng = np.random.default_rng(11)
    reference, current = rng.normal(size=50_000), rng.normal(0.3, 1.2, size=40_000)
    edges = np.linspace(-6, 6, 241)
    result = wasserstein_binned(binned(reference, edges), binned(current, edges), edges)
    raw = wasserstein(reference, current).score
    assert result.score == pytest.approx(raw, abs=np.diff(edges).max())
    assert result.details["upper_bound"] - result.details["lower_bound"] <= 2 * 0.05


@EXAMPLES
@given(sample_pairs())
def test_psi_js_and_chi_square_from_counts_equal_the_raw_forms_on_the_same_edges(pair):
    reference, current, edges = pair
    r, c = binned(reference, edges), binned(current, edges)
    assert psi_binned(r, c).score == pytest.approx(psi_numeric(reference, current, edges=edges).score, abs=1e-12)
    assert jensen_shannon_binned(r, c).score == pytest.approx(
        jensen_shannon_numeric(reference, current, edges=edges).score, abs=1e-12
    )
    # Bucket indices as categories: the raw categorical test on the same partition.
    as_labels = lambda values: np.searchsorted(edges, values, side="left")
    assert chi_square_binned(r, c).score == pytest.approx(
        chi_square(as_labels(reference), as_labels(current)).score, rel=1e-9, abs=1e-9
    )


@EXAMPLES
@given(sample_pairs())
def test_raw_values_land_in_the_model_servers_buckets(pair):
    reference, _, edges = pair
    server = NumericEdges.of(["f"], [edges.tolist()])
    counts, missing, _ = server.count(reference.reshape(-1, 1))
    assert binned(reference, edges).counts.tolist() == pytest.approx(counts[0].tolist())


@EXAMPLES
@given(st.lists(st.integers(0, 40), min_size=2, max_size=16), st.data())
def test_merging_buckets_never_raises_jensen_shannon(reference, data):
    """The data-processing inequality: a coarser binning (the server folding rare categories
    into __other__, or fewer numeric bins) gives a lower bound of the finer one's distance."""
    current = data.draw(st.lists(st.integers(0, 40), min_size=len(reference), max_size=len(reference)))
    if sum(reference) == 0 or sum(current) == 0:
        return
    cut = data.draw(st.integers(1, len(reference) - 1))
    merge = lambda counts: [*counts[: cut - 1], counts[cut - 1] + counts[cut], *counts[cut + 1 :]]
    fine = jensen_shannon_binned(reference, current).score
    assert jensen_shannon_binned(merge(reference), merge(current)).score <= fine + 1e-12
    assert (
        chi_square_binned(merge(reference), merge(current)).score <= chi_square_binned(reference, current).score + 1e-9
    )
