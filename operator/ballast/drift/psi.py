"""Population Stability Index: sum over bins of (current - reference) * ln(current / reference).

PSI is defined on bins, so the binned form is the statistic itself: on the model server's
buckets it equals the raw form computed on the same edges exactly (no approximation).
Numeric raw samples are binned on the reference's deciles, as the training profile bins
them; categorical samples on their categories.

Empty bins: a share of 0 makes the logarithm infinite, so each share is taken as at least
`PSI_EPSILON` (1e-4, i.e. 0.01%) on both sides before the sum. A bin empty on both sides
then adds nothing, and a bin empty on one side adds at most |share| * ln(share / 1e-4) <= 9.3.
Shares are not renormalised after the floor: the floor only ever matters for bins holding
less than 0.01% of a side, where renormalising would shift the other bins by as little.
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

METHOD = "psi"
PSI_EPSILON = 1e-4


def psi_binned(
    reference: BinCounts | ArrayLike, current: BinCounts | ArrayLike, *, epsilon: float = PSI_EPSILON
) -> DriftScore:
    reference, current = paired(reference, current)
    details = bin_details(reference, current)
    if empty := not_enough_data(METHOD, reference.size, current.size, details):
        return empty
    r = np.maximum(reference.shares, epsilon)
    c = np.maximum(current.shares, epsilon)
    floored = (reference.shares < epsilon) | (current.shares < epsilon)
    score = float(np.sum((c - r) * np.log(c / r)))
    return DriftScore(
        method=METHOD, score=score, details=details | {"floored_bins": float(floored.sum()), "epsilon": epsilon}
    )


def psi_numeric(
    reference: ArrayLike | NumericSample,
    current: ArrayLike | NumericSample,
    *,
    bins: int = DEFAULT_BINS,
    edges: ArrayLike | None = None,
    epsilon: float = PSI_EPSILON,
) -> DriftScore:
    """PSI of raw numbers on `edges`, by default the reference's deciles (the profile's binEdges)."""
    reference, current = numeric_sample(reference), numeric_sample(current)
    edges = quantile_edges(reference, bins) if edges is None else edges
    result = psi_binned(count_into_buckets(reference, edges), count_into_buckets(current, edges), epsilon=epsilon)
    return with_dropped(result, reference, current)


def psi_categorical(
    reference: ArrayLike | CategorySample, current: ArrayLike | CategorySample, *, epsilon: float = PSI_EPSILON
) -> DriftScore:
    reference, current = category_sample(reference), category_sample(current)
    _, reference_bins, current_bins = aligned_categories(reference, current)
    return with_dropped(psi_binned(reference_bins, current_bins, epsilon=epsilon), reference, current)
