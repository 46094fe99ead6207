"""Wasserstein-1 (earth mover's) distance: the integral of |F_reference - F_current|, in the
feature's own units. ballast.drift.compare divides it by the reference's standard deviation
for a unit-free score (Evidently's "normed" Wasserstein; see ballast.drift.defaults).

Raw form: exact, as scipy.stats.wasserstein_distance, computed from the sorted samples as the
integral over t in [0, 1] of |quantile_r(t) - quantile_c(t)|; where the breakpoints i/n and
j/m interleave follows from integer arithmetic, so nothing is merged or sorted again.

Binned form, from per-bucket counts and the edges e0 < ... < ek-1 (buckets (-inf, e0],
(e(i-1), ei], (ek-1, +inf)):
- Estimate: values spread uniformly inside each finite bucket, and the open buckets' values
  placed on their finite edge. For the reference this is exact at the ends (the server's
  first edge is the training minimum, and nothing lies above its maximum).
- Open buckets: how far outside [e0, ek-1] a live value lies is unknowable from counts (one
  value at 1e9 moves the raw distance arbitrarily), so the binned form measures the distance
  between the samples clipped to [e0, ek-1]. Clipping is 1-Lipschitz, so that is a lower
  bound of the raw distance. `details` carries the share of each side in the open buckets.
- Bound: inside a finite bucket of width w_i each CDF lies between its values at the ends,
  so the clipped raw distance is bracketed by computable `lower_bound` <= W <= `upper_bound`,
  and the estimate (inside the same bracket) is off by at most
      upper_bound - lower_bound <= sum_i w_i * (r_i + c_i) <= 2 * max finite width,
  with r_i, c_i the shares of bucket i. A single-valued reference has no finite bucket: the
  binned form then has no scale at all and says so instead of answering 0.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from ballast.drift.bins import BinCounts, bin_details, check_edges, paired
from ballast.drift.samples import NumericSample, numeric_sample, with_dropped
from ballast.drift.score import DriftScore, not_enough_data

METHOD = "wasserstein"
_CHUNK = 1 << 16


def wasserstein(reference: ArrayLike | NumericSample, current: ArrayLike | NumericSample) -> DriftScore:
    reference, current = numeric_sample(reference), numeric_sample(current)
    details = {"reference_size": float(reference.size), "current_size": float(current.size)}
    if empty := not_enough_data(METHOD, reference.size, current.size, details):
        return with_dropped(empty, reference, current)
    distance = wasserstein_sorted(reference.values, current.values)
    result = DriftScore(
        method=METHOD, score=distance, details=details | {"reference_std": float(np.std(reference.values))}
    )
    return with_dropped(result, reference, current)


def wasserstein_sorted(xs: np.ndarray, ys: np.ndarray) -> float:
    """Integral over t of |xs quantile - ys quantile| for two sorted, non-empty samples.

    The quantile functions step at t = i/n and t = j/m. Each step of the merged sequence ends
    at one of those breakpoints, and integer arithmetic says which value of the other sample
    is current there, so each side is summed on its own, without merging anything.
    """
    return _steps_ending_on(xs, ys, x_first_on_tie=True) + _steps_ending_on(ys, xs, x_first_on_tie=False)


def _steps_ending_on(own: np.ndarray, other: np.ndarray, *, x_first_on_tie: bool) -> float:
    n, m = len(own), len(other)
    total = 0.0
    # Chunks keep the temporaries in cache; whole-array temporaries made this memory-bound.
    for start in range(0, n, _CHUNK):
        i = np.arange(start + 1, min(start + _CHUNK, n) + 1, dtype=np.int64)
        # The other side's breakpoints before i/n: ceil(i*m/n) - 1 strictly below it when this
        # side goes first on a tie (the x side), floor(i*m/n) at or below it otherwise.
        before = -((-i * m) // n) - 1 if x_first_on_tie else (i * m) // n
        steps = np.minimum(1.0 / n, i / n - before / m)
        np.maximum(steps, 0.0, out=steps)  # a tie leaves a zero-width step, rounding maybe -1e-17
        total += float(np.dot(steps, np.abs(own[i - 1] - other[np.minimum(before, m - 1)])))
    return total


def wasserstein_binned(
    reference: BinCounts | ArrayLike, current: BinCounts | ArrayLike, edges: ArrayLike
) -> DriftScore:
    reference, current = paired(reference, current)
    edges = check_edges(edges, len(reference))
    details = bin_details(reference, current)
    if empty := not_enough_data(METHOD, reference.size, current.size, details):
        return empty
    details |= {
        "reference_open_share": float(reference.shares[0] + reference.shares[-1]),
        "current_open_share": float(current.shares[0] + current.shares[-1]),
        "reference_std": binned_std(reference.shares, edges),
    }
    if len(edges) < 2:
        return DriftScore(
            method=METHOD,
            score=None,
            details=details,
            reason="not enough data: the reference has a single value, so its buckets have no "
            "finite width to measure a distance in",
        )
    widths = np.diff(edges)
    cdf_r, cdf_c = np.cumsum(reference.shares)[:-1], np.cumsum(current.shares)[:-1]
    low_r, high_r, low_c, high_c = cdf_r[:-1], cdf_r[1:], cdf_c[:-1], cdf_c[1:]
    lower = float(np.dot(widths, np.maximum.reduce([low_r - high_c, low_c - high_r, np.zeros_like(widths)])))
    upper = float(np.dot(widths, np.maximum(high_r - low_c, high_c - low_r)))
    estimate = float(np.dot(widths, _mean_absolute_linear(low_r - low_c, high_r - high_c)))
    return DriftScore(
        method=METHOD,
        score=min(max(estimate, lower), upper),
        details=details | {"lower_bound": lower, "upper_bound": upper},
    )


def _mean_absolute_linear(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Mean of |d(s)| over s in [0, 1] for d linear from `start` to `end`, elementwise."""
    same_sign = start * end >= 0
    magnitude = np.abs(start) + np.abs(end)
    crossing = np.divide(start**2 + end**2, 2 * magnitude, out=np.zeros_like(magnitude), where=magnitude > 0)
    mean: np.ndarray = np.where(same_sign, magnitude / 2, crossing)
    return mean


def binned_std(shares: np.ndarray, edges: np.ndarray) -> float:
    """Standard deviation of the binned estimate's distribution (uniform in finite buckets,
    open buckets on their edge); needs no reference std from elsewhere."""
    if len(edges) == 0 or shares.sum() <= 0:
        return 0.0
    centre = edges[0]  # shifting first keeps the variance from cancelling catastrophically
    left, right = edges[:-1] - centre, edges[1:] - centre
    midpoints = np.concatenate(([0.0], (left + right) / 2, [edges[-1] - centre]))
    spread = np.concatenate(([0.0], (right - left) ** 2 / 12, [0.0]))
    mean = float(np.dot(shares, midpoints))
    variance = float(np.dot(shares, midpoints**2 + spread)) - mean**2
    return math.sqrt(max(variance, 0.0))
