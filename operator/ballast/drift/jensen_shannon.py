"""Jensen-Shannon distance: the square root of the JS divergence, in base 2, so it lies in [0, 1].

0 means identical distributions, 1 means disjoint supports. scipy.spatial.distance.jensenshannon
uses the natural logarithm unless told `base=2`; in natural-log units the same distance is
this one times sqrt(ln 2) ~= 0.833, which matters when comparing thresholds across tools.

JS needs no smoothing: 0 * log 0 is 0 and the mixture is positive wherever either side is.
Like PSI it is defined on bins; the binned form on the server's buckets equals the raw form
on the same edges. Coarser bins never increase it (it is an f-divergence, so merging bins
can only lose information: the data-processing inequality), so a binned JS is a lower bound
of the JS on any finer binning of the same data.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ballast.drift.bins import (
    DEFAULT_BINS,
    BinCounts,
    aligned_categories,
    bin_details,
    count_into_buckets,
    paired,
    quantile_edges,
)
from ballast.drift.samples import CategorySample, NumericSample, category_sample, numeric_sample, with_dropped
from ballast.drift.score import DriftScore, not_enough_data

METHOD = "jensenShannon"


def jensen_shannon_binned(reference: BinCounts | ArrayLike, current: BinCounts | ArrayLike) -> DriftScore:
    reference, current = paired(reference, current)
    details = bin_details(reference, current)
    if empty := not_enough_data(METHOD, reference.size, current.size, details):
        return empty
    p, q = reference.shares, current.shares
    mixture = (p + q) / 2
    divergence = (_relative_entropy(p, mixture) + _relative_entropy(q, mixture)) / 2
    # Rounding can leave the divergence a hair below 0 or above 1; sqrt of -1e-17 is NaN.
    return DriftScore(method=METHOD, score=float(np.sqrt(np.clip(divergence, 0.0, 1.0))), details=details)


def jensen_shannon_numeric(
    reference: ArrayLike | NumericSample,
    current: ArrayLike | NumericSample,
    *,
    bins: int = DEFAULT_BINS,
    edges: ArrayLike | None = None,
) -> DriftScore:
    reference, current = numeric_sample(reference), numeric_sample(current)
    edges = quantile_edges(reference, bins) if edges is None else edges
    result = jensen_shannon_binned(count_into_buckets(reference, edges), count_into_buckets(current, edges))
    return with_dropped(result, reference, current)


def jensen_shannon_categorical(
    reference: ArrayLike | CategorySample, current: ArrayLike | CategorySample
) -> DriftScore:
    reference, current = category_sample(reference), category_sample(current)
    _, reference_bins, current_bins = aligned_categories(reference, current)
    return with_dropped(jensen_shannon_binned(reference_bins, current_bins), reference, current)


def _relative_entropy(p: np.ndarray, mixture: np.ndarray) -> float:
    present = p > 0
    return float(np.sum(p[present] * np.log2(p[present] / mixture[present])))
