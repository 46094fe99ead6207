"""What every drift statistic returns: a score, or the reason there is none.

A statistic never answers NaN or raises on thin data: a window without values, or a
reference without values, gives `score=None` with a `reason` a person can read, because
"not enough data" must never be mistaken for "no drift".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class DriftScore:
    method: str
    score: float | None
    """The statistic (a distance, PSI, KS D, chi-square X²); None when there was not enough data."""
    p_value: float | None = None
    """For the tests (ks, chiSquare): the probability of a statistic this large without drift."""
    reason: str = ""
    """Why `score` is None; empty otherwise."""
    details: Mapping[str, float | str] = field(default_factory=dict)
    """Sizes, dropped values and, for binned forms, the bounds of the raw statistic."""


def not_enough_data(
    method: str, reference_size: float, current_size: float, details: Mapping[str, float | str] | None = None
) -> DriftScore | None:
    """The answer for an empty side, or None when both sides hold values."""
    if reference_size > 0 and current_size > 0:
        return None
    empty = "the reference" if reference_size <= 0 else "the current window"
    if reference_size <= 0 and current_size <= 0:
        empty = "both the reference and the current window"
    return DriftScore(
        method=method,
        score=None,
        reason=f"not enough data: {empty} holds no values",
        details={"reference_size": float(reference_size), "current_size": float(current_size), **(details or {})},
    )
