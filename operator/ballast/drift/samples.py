"""Raw samples made ready for the statistics: missing values dropped and counted, numbers sorted.

Numeric samples are sorted once (`numeric_sample`) so that KS, Wasserstein and the binned
statistics share one sort; a reference sample can be kept and compared with many windows.
NaN is a missing value; +-Inf is dropped too (a distance to infinity means nothing) and
counted apart, so a caller can report both.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ballast.drift.score import DriftScore


@dataclass(frozen=True)
class NumericSample:
    values: np.ndarray
    """The finite values, float64, sorted ascending."""
    missing: int = 0
    """NaN values dropped."""
    infinite: int = 0
    """+-Inf values dropped."""

    @property
    def size(self) -> int:
        return len(self.values)


def numeric_sample(values: ArrayLike | NumericSample) -> NumericSample:
    if isinstance(values, NumericSample):
        return values
    array = np.asarray(values, dtype=np.float64).ravel()
    finite = np.isfinite(array)
    if finite.all():
        return NumericSample(values=np.sort(array))
    missing = int(np.isnan(array).sum())
    return NumericSample(
        values=np.sort(array[finite]), missing=missing, infinite=int(len(array) - finite.sum()) - missing
    )


@dataclass(frozen=True)
class CategorySample:
    labels: tuple[Hashable, ...]
    counts: np.ndarray
    """int64, one per label."""
    missing: int = 0
    """None, NaN and other values that are not equal to themselves (pandas.NA, NaT)."""

    @property
    def size(self) -> int:
        return int(self.counts.sum())


def category_sample(values: ArrayLike | CategorySample) -> CategorySample:
    if isinstance(values, CategorySample):
        return values
    array = np.asarray(values).ravel()
    if array.dtype.kind in "biuf":
        # Numbers as categories (codes, booleans): numpy's sort-based unique is fast for them.
        present = ~np.isnan(array) if array.dtype.kind == "f" else np.ones(len(array), dtype=bool)
        labels, counts = np.unique(array[present], return_counts=True)
        return CategorySample(
            labels=tuple(labels.tolist()), counts=counts.astype(np.int64), missing=int(len(array) - present.sum())
        )
    # Strings and objects: hashing beats numpy's comparison sort of Python objects by ~10x.
    counted = Counter(array.tolist())
    missing = 0
    for label in [label for label in counted if _is_missing(label)]:
        missing += counted.pop(label)
    return CategorySample(
        labels=tuple(counted), counts=np.fromiter(counted.values(), dtype=np.int64, count=len(counted)), missing=missing
    )


def _is_missing(label: object) -> bool:
    if label is None:
        return True
    try:
        return bool(label != label)
    except (TypeError, ValueError):
        return True  # pandas.NA refuses to be a bool: it is missing by definition


def with_dropped(
    result: DriftScore, reference: NumericSample | CategorySample, current: NumericSample | CategorySample
) -> DriftScore:
    """The result with the counts of values each raw side lost before the statistic."""
    dropped = {"reference_missing": float(reference.missing), "current_missing": float(current.missing)}
    if isinstance(reference, NumericSample) and isinstance(current, NumericSample):
        dropped |= {"reference_infinite": float(reference.infinite), "current_infinite": float(current.infinite)}
    return DriftScore(
        method=result.method,
        score=result.score,
        p_value=result.p_value,
        reason=result.reason,
        details={**result.details, **dropped},
    )
