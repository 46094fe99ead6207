"""Two-sample Kolmogorov-Smirnov: D = sup |F_reference(x) - F_current(x)|, and its p-value.

Raw form: exact D, as scipy.stats.ks_2samp computes it, from the two sorted samples. The
p-value is asymptotic with Stephens' correction (see ballast.drift.pvalues), not scipy's
exact small-sample distribution; on large windows, where drift is judged, they agree.

Binned form (the server's `le` buckets, edges e0 < ... < ek-1): the empirical CDFs are
known exactly at the edges, so D_binned = max over edges |F_r(e) - F_c(e)| is the raw D
restricted to those points:

    D_binned <= D_raw <= D_upper <= D_binned + max over bins of max(r_i, c_i)

where, inside a bucket, each CDF lies between its values at the bucket's two ends, so
D_upper = max over buckets of max(F_r(hi) - F_c(lo), F_c(hi) - F_r(lo)). Open buckets need
no care: F is 0 at -inf and 1 at +inf. D_upper and its p-value (a lower bound of the raw
p-value) are in `details`; the binned p-value is an upper bound of the raw one, so a binned
test fires no more often than the raw test would (and heavy ties make KS conservative too).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ballast.drift.bins import BinCounts, bin_details, paired
from ballast.drift.pvalues import effective_size, kolmogorov_smirnov_p_value
from ballast.drift.samples import NumericSample, numeric_sample, with_dropped
from ballast.drift.score import DriftScore, not_enough_data

METHOD = "ks"


def kolmogorov_smirnov(reference: ArrayLike | NumericSample, current: ArrayLike | NumericSample) -> DriftScore:
    reference, current = numeric_sample(reference), numeric_sample(current)
    n, m = reference.size, current.size
    details = {"reference_size": float(n), "current_size": float(m)}
    if empty := not_enough_data(METHOD, n, m, details):
        return with_dropped(empty, reference, current)
    statistic = ks_statistic(reference.values, current.values)
    result = DriftScore(
        method=METHOD,
        score=statistic,
        p_value=kolmogorov_smirnov_p_value(statistic, effective_size(n, m)),
        details=details,
    )
    return with_dropped(result, reference, current)


def ks_statistic(xs: np.ndarray, ys: np.ndarray) -> float:
    """sup |F_x - F_y| of two sorted, non-empty samples, with one binary search per y."""
    n, m = len(xs), len(ys)
    x_below_y = np.searchsorted(xs, ys, side="left")
    # y <= xs[i] exactly when fewer than i+1 x lie below y, so a cumulative count of the
    # insertion points gives #{y <= xs[i]} without a second search.
    y_at_or_below_x = np.cumsum(np.bincount(x_below_y, minlength=n + 1)[:n])
    x_at_or_below_y = x_below_y
    tied = np.flatnonzero(xs[np.minimum(x_below_y, n - 1)] == ys)
    if len(tied):
        x_at_or_below_y[tied] = np.searchsorted(xs, ys[tied], side="right")
    return max(_largest_gap(xs, y_at_or_below_x, n, m), _largest_gap(ys, x_at_or_below_y, m, n))


def _largest_gap(own: np.ndarray, other_at_or_below: np.ndarray, n: int, m: int) -> float:
    """max |F_own - F_other| just after each of own's values, F_own counted by position."""
    ends = np.flatnonzero(own[1:] != own[:-1])
    if len(ends) + 1 == n:
        own_cdf = np.arange(1, n + 1) / n  # no ties: every position ends its run
        other_cdf = other_at_or_below / m
    else:
        # Inside a run of ties the running count is not a CDF value: use the runs' last ones.
        ends = np.append(ends, n - 1)
        own_cdf = (ends + 1) / n
        other_cdf = other_at_or_below[ends] / m
    own_cdf -= other_cdf
    return float(np.abs(own_cdf).max())


def kolmogorov_smirnov_binned(reference: BinCounts | ArrayLike, current: BinCounts | ArrayLike) -> DriftScore:
    """KS on per-bucket counts in bucket order (the edges themselves are not needed)."""
    reference, current = paired(reference, current)
    details = bin_details(reference, current)
    if empty := not_enough_data(METHOD, reference.size, current.size, details):
        return empty
    high_r, high_c = np.cumsum(reference.shares), np.cumsum(current.shares)
    low_r, low_c = high_r - reference.shares, high_c - current.shares
    statistic = float(np.max(np.abs(high_r[:-1] - high_c[:-1]), initial=0.0))
    upper = float(max(statistic, np.max(np.maximum(high_r - low_c, high_c - low_r))))
    size = effective_size(reference.size, current.size)
    return DriftScore(
        method=METHOD,
        score=statistic,
        p_value=kolmogorov_smirnov_p_value(statistic, size),
        details=details
        | {
            "statistic_upper_bound": min(upper, 1.0),
            "p_value_lower_bound": kolmogorov_smirnov_p_value(min(upper, 1.0), size),
        },
    )
