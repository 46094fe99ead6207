"""Binned distributions: the form the model server exports, and how raw samples get there.

A `BinCounts` is the share of values in each bin plus how many values stand behind the
shares. Live windows come as counts (`from_counts`: per-bucket counter increases); the
reference comes as the server's `ballast_reference_feature_bin_ratio` gauges
(`from_ratios`) with the number of present training values (`ballast_reference_rows` times
one minus `ballast_reference_feature_missing_ratio`). A reference of unknown size is an
exact population (`size=inf`): the tests then compare the window with it as a fixed
distribution (one-sample KS, chi-square goodness of fit) instead of as another sample.

Numeric buckets follow Prometheus and the server (ballast.serving.buckets): with edges
e0 < e1 < ... < ek-1, bucket 0 is (-inf, e0], bucket i is (e(i-1), ei], bucket k is
(ek-1, +inf). Raw samples are counted into the same buckets, on edges computed as the
training profile computes them (ballast.data.profile), so a raw statistic and its binned
form agree exactly when the edges agree.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ballast.drift.samples import CategorySample, NumericSample

DEFAULT_BINS = 10
"""As the training profile (ballast.data.profile.DEFAULT_BINS): deciles of the reference."""


@dataclass(frozen=True)
class BinCounts:
    shares: np.ndarray
    """float64 per bin, summing to 1 (all zero when `size` is 0)."""
    size: float
    """Values behind the shares; math.inf for a population known only by its ratios."""
    nan_bins: int = 0
    """Bins whose count was NaN (a series missing from a scrape), taken as empty."""

    @classmethod
    def from_counts(cls, counts: ArrayLike) -> BinCounts:
        array, nan_bins = _clean(counts)
        total = float(array.sum())
        return cls(shares=array / total if total > 0 else array, size=total, nan_bins=nan_bins)

    @classmethod
    def from_ratios(cls, ratios: ArrayLike, size: float = math.inf) -> BinCounts:
        """Ratios as the server exports them; renormalised, since gauges are rounded floats."""
        array, nan_bins = _clean(ratios)
        total = float(array.sum())
        if total <= 0 or size <= 0:
            return cls(shares=np.zeros_like(array), size=0.0, nan_bins=nan_bins)
        return cls(shares=array / total, size=float(size), nan_bins=nan_bins)

    @property
    def counts(self) -> np.ndarray:
        """Shares times size: the counts (fractional when they came from rounded ratios)."""
        return self.shares * self.size

    def __len__(self) -> int:
        return len(self.shares)


def as_bins(values: BinCounts | ArrayLike) -> BinCounts:
    """A bare array is a vector of counts."""
    return values if isinstance(values, BinCounts) else BinCounts.from_counts(values)


def _clean(values: ArrayLike) -> tuple[np.ndarray, int]:
    array = np.array(values, dtype=np.float64).ravel()
    nan = np.isnan(array)
    array[nan] = 0.0
    # A negative or infinite count is a bug upstream (a counter reset read as a delta),
    # not a property of the data: refuse it loudly rather than score garbage.
    if np.isinf(array).any() or (array < 0).any():
        raise ValueError(f"bin counts must be finite and non-negative, got {array.tolist()}")
    return array, int(nan.sum())


def paired(reference: BinCounts | ArrayLike, current: BinCounts | ArrayLike) -> tuple[BinCounts, BinCounts]:
    reference, current = as_bins(reference), as_bins(current)
    if len(reference) != len(current):
        raise ValueError(f"reference has {len(reference)} bins, current has {len(current)}")
    return reference, current


def bin_details(reference: BinCounts, current: BinCounts) -> dict[str, float | str]:
    details: dict[str, float | str] = {
        "reference_size": reference.size,
        "current_size": current.size,
        "bins": float(len(reference)),
    }
    if reference.nan_bins or current.nan_bins:
        details |= {"reference_nan_bins": float(reference.nan_bins), "current_nan_bins": float(current.nan_bins)}
    return details


def quantile_edges(reference: NumericSample, bins: int = DEFAULT_BINS) -> np.ndarray:
    """The training profile's binEdges: quantiles 0, 1/bins, ..., 1, duplicates removed."""
    if reference.size == 0:
        return np.empty(0)
    return np.unique(np.quantile(reference.values, np.linspace(0.0, 1.0, bins + 1)))


def count_into_buckets(sample: NumericSample, edges: ArrayLike) -> BinCounts:
    """Counts per `le` bucket, len(edges) + 1 of them, as the model server counts live values."""
    edges = np.asarray(edges, dtype=np.float64)
    # The sample is sorted, so each cumulative count is one binary search per edge.
    at_or_below = np.searchsorted(sample.values, edges, side="right")
    counts = np.diff(np.concatenate(([0], at_or_below, [sample.size])))
    return BinCounts.from_counts(counts)


def check_edges(edges: ArrayLike, bins: int) -> np.ndarray:
    edges = np.asarray(edges, dtype=np.float64).ravel()
    if len(edges) + 1 != bins:
        raise ValueError(f"{len(edges)} edges make {len(edges) + 1} buckets (the last is +Inf), not {bins}")
    if not np.isfinite(edges).all() or (np.diff(edges) <= 0).any():
        raise ValueError("edges must be finite and strictly increasing (the +Inf bucket is implied)")
    return edges


def aligned_categories(
    reference: CategorySample, current: CategorySample
) -> tuple[tuple[Hashable, ...], BinCounts, BinCounts]:
    """Both samples counted over the union of their categories: reference's first, then new ones."""
    index = {label: i for i, label in enumerate(reference.labels)}
    for label in current.labels:
        index.setdefault(label, len(index))
    reference_counts = np.zeros(len(index))
    current_counts = np.zeros(len(index))
    reference_counts[[index[label] for label in reference.labels]] = reference.counts
    current_counts[[index[label] for label in current.labels]] = current.counts
    return tuple(index), BinCounts.from_counts(reference_counts), BinCounts.from_counts(current_counts)
