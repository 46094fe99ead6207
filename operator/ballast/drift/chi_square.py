"""Pearson's chi-square test of a categorical feature: statistic and p-value.

Two forms, chosen by what is known about the reference:
- The reference is a sample of known size (raw samples; or the server's ratios with the
  training row count): the test of homogeneity on the 2 x k table of reference and current
  counts, as scipy.stats.chi2_contingency(..., correction=False) computes it. Without Yates'
  correction, which only exists for 2 x 2 tables and would make a two-category feature
  behave unlike the rest.
- The reference is an exact population (`BinCounts.from_ratios(..)` without a size): the
  goodness-of-fit test of the current counts against the reference shares, as
  scipy.stats.chisquare(current, expected) computes it (Evidently's chi-square does this,
  with the reference taken as exact).

Empty bins: a category empty on both sides carries no information and is left out (it
would be 0/0), which also removes it from the degrees of freedom. In the goodness-of-fit
form a category the reference never had but the window has would expect 0 and make the
statistic infinite; its expected share is raised to CHI_SQUARE_EPSILON (1e-4) and the
shares renormalised, so the result is finite and large. (The homogeneity form needs no
such floor: a category seen on one side only has a positive expected count.)
Fewer than two non-empty categories leave nothing to compare: statistic 0, p-value 1.
The p-value is the chi-square tail with k - 1 degrees of freedom, ballast.drift.pvalues.

Binned and raw forms are the same statistic on the same categories. Where the server folds
rare categories into `__other__`, the statistic can only shrink (merging categories is a
coarsening, and the chi-square divergence obeys the data-processing inequality).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from ballast.drift.bins import BinCounts, aligned_categories, bin_details, paired
from ballast.drift.pvalues import chi_square_survival
from ballast.drift.samples import CategorySample, category_sample, with_dropped
from ballast.drift.score import DriftScore, not_enough_data

METHOD = "chiSquare"
CHI_SQUARE_EPSILON = 1e-4


def chi_square_binned(
    reference: BinCounts | ArrayLike, current: BinCounts | ArrayLike, *, epsilon: float = CHI_SQUARE_EPSILON
) -> DriftScore:
    reference, current = paired(reference, current)
    details = bin_details(reference, current)
    if empty := not_enough_data(METHOD, reference.size, current.size, details):
        return empty
    present = (reference.shares > 0) | (current.shares > 0)
    degrees = int(present.sum()) - 1
    details |= {"degrees_of_freedom": float(max(degrees, 0))}
    if degrees < 1:
        return DriftScore(method=METHOD, score=0.0, p_value=1.0, details=details)
    if math.isinf(reference.size):
        statistic = _goodness_of_fit(reference.shares[present], current.counts[present], epsilon)
        details |= {"test": "goodnessOfFit"}
    else:
        statistic = _homogeneity(reference.counts[present], current.counts[present])
        details |= {"test": "homogeneity"}
    return DriftScore(method=METHOD, score=statistic, p_value=chi_square_survival(statistic, degrees), details=details)


def chi_square(reference: ArrayLike | CategorySample, current: ArrayLike | CategorySample) -> DriftScore:
    """The homogeneity test of two raw categorical samples."""
    reference, current = category_sample(reference), category_sample(current)
    _, reference_bins, current_bins = aligned_categories(reference, current)
    return with_dropped(chi_square_binned(reference_bins, current_bins), reference, current)


def _homogeneity(reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
    observed = np.vstack([reference_counts, current_counts])
    expected = observed.sum(axis=1, keepdims=True) * observed.sum(axis=0, keepdims=True) / observed.sum()
    # An expected count can underflow to 0 only for counts near 1e-300 (scaled ratios); such
    # cells carry no evidence either way, so they add nothing rather than 0/0.
    terms = np.divide((observed - expected) ** 2, expected, out=np.zeros_like(expected), where=expected > 0)
    return float(np.sum(terms))


def _goodness_of_fit(reference_shares: np.ndarray, current_counts: np.ndarray, epsilon: float) -> float:
    shares = np.maximum(reference_shares, epsilon)
    expected = shares / shares.sum() * current_counts.sum()
    return float(np.sum((current_counts - expected) ** 2 / expected))
