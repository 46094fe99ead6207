"""One entry point per input form, keyed by the DriftPolicy's method names, with a verdict.

`compare_binned` is what policy evaluation calls with a window's bucket counts and the
server's reference ratios; `compare_samples` does the same from raw arrays (offline checks,
benchmarks). Both answer a `DriftVerdict`: the score on the method's own scale (a p-value
for ks and chiSquare, the normed distance for wasserstein), the threshold used, and
`drifted`, which is None, never False, when there was not enough data to judge.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from numpy.typing import ArrayLike

from ballast.drift.bins import DEFAULT_BINS, BinCounts
from ballast.drift.chi_square import chi_square, chi_square_binned
from ballast.drift.defaults import CATEGORICAL_METHODS, METHODS, NUMERIC_METHODS, WASSERSTEIN_STD_FLOOR, MethodDefaults
from ballast.drift.jensen_shannon import jensen_shannon_binned, jensen_shannon_categorical, jensen_shannon_numeric
from ballast.drift.kolmogorov_smirnov import kolmogorov_smirnov, kolmogorov_smirnov_binned
from ballast.drift.psi import psi_binned, psi_categorical, psi_numeric
from ballast.drift.samples import CategorySample, NumericSample
from ballast.drift.score import DriftScore
from ballast.drift.wasserstein import wasserstein, wasserstein_binned

FeatureKind = Literal["numeric", "categorical"]


@dataclass(frozen=True)
class DriftVerdict:
    method: str
    score: float | None
    threshold: float
    drifted: bool | None
    """None when there was not enough data: unknown, not "no drift"."""
    higher_is_drift: bool
    warning: bool | None = None
    """psi only: the score reached the warning level (0.1 by default)."""
    reason: str = ""
    details: Mapping[str, float | str] = field(default_factory=dict)

    @property
    def p_value(self) -> float | None:
        """The score of a test (ks, chiSquare); None for a distance, which has none."""
        return None if self.higher_is_drift else self.score

    @property
    def statistic(self) -> float | None:
        """A distance's score, or a test's statistic (KS D, chi-square X²): higher is further
        from the reference for every method, unlike the score."""
        if self.higher_is_drift:
            return self.score
        value = self.details.get("statistic")
        return float(value) if isinstance(value, int | float) else None


def compare_samples(
    method: str,
    reference: ArrayLike | NumericSample | CategorySample,
    current: ArrayLike | NumericSample | CategorySample,
    *,
    kind: FeatureKind,
    threshold: float | None = None,
    bins: int = DEFAULT_BINS,
) -> DriftVerdict:
    """Raw samples; numeric PSI and JS bin them on the reference's deciles (`bins`)."""
    defaults = _defaults(method, kind)
    statistic: Callable[[], DriftScore]
    if kind == "categorical":
        if isinstance(reference, NumericSample) or isinstance(current, NumericSample):
            raise TypeError("a NumericSample cannot be compared as categorical")
        ref_categories, cur_categories = reference, current
        statistic = {
            "psi": lambda: psi_categorical(ref_categories, cur_categories),
            "jensenShannon": lambda: jensen_shannon_categorical(ref_categories, cur_categories),
            "chiSquare": lambda: chi_square(ref_categories, cur_categories),
        }[method]
    else:
        if isinstance(reference, CategorySample) or isinstance(current, CategorySample):
            raise TypeError("a CategorySample cannot be compared as numeric")
        ref_values, cur_values = reference, current
        statistic = {
            "psi": lambda: psi_numeric(ref_values, cur_values, bins=bins),
            "jensenShannon": lambda: jensen_shannon_numeric(ref_values, cur_values, bins=bins),
            "wasserstein": lambda: wasserstein(ref_values, cur_values),
            "ks": lambda: kolmogorov_smirnov(ref_values, cur_values),
        }[method]
    return verdict(statistic(), defaults, threshold)


def compare_binned(
    method: str,
    reference: BinCounts | ArrayLike,
    current: BinCounts | ArrayLike,
    *,
    kind: FeatureKind,
    edges: ArrayLike | None = None,
    threshold: float | None = None,
    reference_std: float | None = None,
) -> DriftVerdict:
    """Bucket counts (a bare array is counts; the server's ratios go through BinCounts.from_ratios).

    `edges` are the numeric buckets' finite upper bounds (the profile's binEdges, without
    +Inf); wasserstein needs them. `reference_std` (the profile's std) replaces the one the
    wasserstein score would otherwise estimate from the reference's buckets.
    """
    defaults = _defaults(method, kind)
    if method == "wasserstein" and edges is None:
        raise ValueError("wasserstein on bucket counts needs the buckets' edges")
    binned: dict[str, Callable[[], DriftScore]] = {
        "psi": lambda: psi_binned(reference, current),
        "jensenShannon": lambda: jensen_shannon_binned(reference, current),
        "chiSquare": lambda: chi_square_binned(reference, current),
        "ks": lambda: kolmogorov_smirnov_binned(reference, current),
        "wasserstein": lambda: wasserstein_binned(reference, current, edges if edges is not None else ()),
    }
    return verdict(binned[method](), defaults, threshold, reference_std=reference_std)


def verdict(
    result: DriftScore, defaults: MethodDefaults, threshold: float | None = None, reference_std: float | None = None
) -> DriftVerdict:
    """A statistic's result on its method's scale, judged against the threshold."""
    threshold = defaults.threshold if threshold is None else threshold
    score, details = result.score, dict(result.details)
    if score is not None and not defaults.higher_is_drift:
        details["statistic"] = score
        score = result.p_value
    if score is not None and defaults.name == "wasserstein":
        std = details.get("reference_std") if reference_std is None else reference_std
        norm = max(float(std or 0.0), WASSERSTEIN_STD_FLOOR)
        details |= {"distance": score, "norm": norm}
        score = score / norm
    if score is None:
        return DriftVerdict(
            method=defaults.name,
            score=None,
            threshold=threshold,
            drifted=None,
            higher_is_drift=defaults.higher_is_drift,
            reason=result.reason,
            details=details,
        )
    drifted = score >= threshold if defaults.higher_is_drift else score < threshold
    warning = None if defaults.warning is None else score >= defaults.warning
    return DriftVerdict(
        method=defaults.name,
        score=score,
        threshold=threshold,
        drifted=bool(drifted),
        higher_is_drift=defaults.higher_is_drift,
        warning=warning,
        reason=result.reason,
        details=details,
    )


def _defaults(method: str, kind: FeatureKind) -> MethodDefaults:
    allowed = NUMERIC_METHODS if kind == "numeric" else CATEGORICAL_METHODS
    if kind not in ("numeric", "categorical") or method not in allowed:
        raise ValueError(f"{method!r} is not a drift method for {kind} features; use one of {', '.join(allowed)}")
    return METHODS[method]
