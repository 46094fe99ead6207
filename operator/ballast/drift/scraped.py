"""From the model server's /metrics to per-feature drift verdicts.

A scrape holds, per feature, cumulative counters of live values (numeric: histogram buckets on
the training profile's edges; categorical: a counter per category) and gauges with the training
data's share of each bucket. A window is the difference of two scrapes (summed over pods), so
drift over a period is judged on what arrived during it, compared with the reference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

from ballast.drift.bins import BinCounts
from ballast.drift.compare import DriftVerdict, compare_binned

NUMERIC_BUCKETS = "ballast_feature_value_bucket"
CATEGORY_COUNTS = "ballast_feature_category_total"
REFERENCE_RATIOS = "ballast_reference_feature_bin_ratio"


@dataclass
class Snapshot:
    """Cumulative live counts per (feature, bin), summed over pods, and the reference shares."""

    numeric: dict[str, dict[str, float]] = field(default_factory=dict)
    """feature -> le -> cumulative count (Prometheus histogram semantics)."""
    categorical: dict[str, dict[str, float]] = field(default_factory=dict)
    """feature -> category -> count."""
    reference: dict[str, dict[str, float]] = field(default_factory=dict)
    """feature -> bin (le or category) -> share of the training values."""


def snapshot_from_scrapes(texts: list[str]) -> Snapshot:
    snapshot = Snapshot()
    for text in texts:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                feature = sample.labels.get("feature")
                if feature is None:
                    continue
                if sample.name == NUMERIC_BUCKETS:
                    _add(snapshot.numeric, feature, sample.labels["le"], sample.value)
                elif sample.name == CATEGORY_COUNTS:
                    _add(snapshot.categorical, feature, sample.labels["category"], sample.value)
                elif sample.name == REFERENCE_RATIOS:
                    # every pod exports the same reference: keep one copy, not the sum
                    snapshot.reference.setdefault(feature, {})[sample.labels["bin"]] = sample.value
    return snapshot


def _add(table: dict[str, dict[str, float]], feature: str, key: str, value: float) -> None:
    bins = table.setdefault(feature, {})
    bins[key] = bins.get(key, 0.0) + value


def window(now: Snapshot, start: Snapshot) -> Snapshot:
    """now - start per feature. A feature with any counter that went down was reset (a pod
    restarted): its window counts from zero instead, which undercounts but never invents data."""
    def delta(current: dict[str, dict[str, float]], before: dict[str, dict[str, float]]):
        result = {}
        for feature, bins in current.items():
            previous = before.get(feature, {})
            reset = any(count < previous.get(key, 0.0) for key, count in bins.items())
            result[feature] = dict(bins) if reset else {k: c - previous.get(k, 0.0) for k, c in bins.items()}
        return result

    return Snapshot(numeric=delta(now.numeric, start.numeric), categorical=delta(now.categorical, start.categorical),
                    reference=now.reference)


def _le(key: str) -> float:
    return math.inf if key == "+Inf" else float(key)


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    kind: str
    verdict: DriftVerdict
    rows: float


def evaluate(current: Snapshot, *, numeric_method: str = "psi", categorical_method: str = "psi",
             threshold: float | None = None, features: list[str] | None = None) -> list[FeatureDrift]:
    """One verdict per feature that has a reference, on the window's counts."""
    results = []
    for feature in sorted(set(current.numeric) | set(current.categorical)):
        if features is not None and feature not in features:
            continue
        reference = current.reference.get(feature)
        if not reference:
            continue
        if feature in current.numeric:
            cumulative = sorted(current.numeric[feature].items(), key=lambda item: _le(item[0]))
            keys = [key for key, _ in cumulative]
            counts, previous = [], 0.0
            for _, total in cumulative:  # de-cumulate the histogram
                counts.append(max(total - previous, 0.0))
                previous = max(total, previous)
            edges = [_le(key) for key in keys if key != "+Inf"]
            verdict = compare_binned(numeric_method, BinCounts.from_ratios([reference.get(k, 0.0) for k in keys]),
                                     BinCounts.from_counts(counts), kind="numeric", edges=edges,
                                     threshold=threshold)
            results.append(FeatureDrift(feature, "numeric", verdict, sum(counts)))
        else:
            keys = sorted(set(current.categorical[feature]) | set(reference))
            counts = [current.categorical[feature].get(k, 0.0) for k in keys]
            verdict = compare_binned(categorical_method, BinCounts.from_ratios([reference.get(k, 0.0) for k in keys]),
                                     BinCounts.from_counts(counts), kind="categorical", threshold=threshold)
            results.append(FeatureDrift(feature, "categorical", verdict, sum(counts)))
    return results
