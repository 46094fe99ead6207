"""Which bucket each feature value, prediction and probability falls in: the drift histograms' edges.

Numeric features (and a regressor's predictions) use the training profile's `binEdges` as the
upper bounds (`le`) of Prometheus histogram buckets, with +Inf after them (see
ballast.data.profile): a value v lands in the first bucket whose edge is >= v. Categorical
features count each of the profile's frequent values by name, `__other__` for a value the
model saw in training but the profile does not list, and `__unseen__` for a value training
never saw. Missing values are in no bucket; they are counted apart.

Everything here is pure: edges and names in, bucket indices out, for a whole batch at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from prometheus_client.utils import floatToGoString

OTHER = "__other__"
UNSEEN = "__unseen__"
PROBABILITY_EDGES = tuple(round(0.1 * i, 1) for i in range(1, 11))
PROFILE_BOOLEAN_LABELS = {"true": "True", "false": "False"}
"""The profile writes booleans as true/false; feature_frame (and so the model) sees str(bool)."""


def le_labels(edges: Iterable[float]) -> tuple[str, ...]:
    """The `le` label of each bucket, +Inf last, formatted as prometheus_client formats them."""
    return (*(floatToGoString(edge) for edge in edges), "+Inf")


@dataclass(frozen=True)
class NumericEdges:
    """Upper bounds of the buckets of several numeric series, padded to one matrix.

    Padding with +Inf keeps the per-series bucket count honest: a value is never greater
    than a padded edge, so padded buckets stay empty and are not exported.
    """

    names: tuple[str, ...]
    edges: tuple[tuple[float, ...], ...]
    matrix: np.ndarray
    """(series, widest edges) float64, +Inf-padded."""

    @classmethod
    def of(cls, names: Iterable[str], edges: Iterable[Iterable[float]]) -> NumericEdges:
        names, edges = tuple(names), tuple(tuple(float(e) for e in series) for series in edges)
        width = max((len(series) for series in edges), default=0)
        matrix = np.full((len(names), width), np.inf)
        for i, series in enumerate(edges):
            matrix[i, : len(series)] = series
        return cls(names=names, edges=edges, matrix=matrix)

    @property
    def buckets(self) -> int:
        """Buckets per series in the count matrix (the widest series' edges, plus +Inf)."""
        return self.matrix.shape[1] + 1

    def bucket_indices(self, by_series: np.ndarray) -> np.ndarray:
        """(series, values) index of the bucket of each value: the first edge >= v, so the number
        of edges strictly below it. NaN gives index 0 (mask it out)."""
        # One pass per edge position over every series at once: with a few dozen edges this is
        # several times faster than a binary search per value (searchsorted), and padded +Inf
        # edges add nothing.
        width = self.matrix.shape[1]
        narrow = next(t for t in (np.int8, np.int16, np.intp) if width <= np.iinfo(t).max)  # fewer bytes, faster adds
        indices = np.zeros(by_series.shape, dtype=narrow)
        above = np.empty(by_series.shape, dtype=bool)
        for edge in self.matrix.T:
            np.greater(by_series, edge[:, None], out=above)
            indices += above.view(np.int8)
        return indices

    def count(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-bucket counts (series, buckets), missing counts and sums of the present values of
        `values` (rows, series)."""
        return self.count_series(np.ascontiguousarray(values.T))

    def count_series(self, by_series: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`count` of values laid out (series, values), each series contiguous: what is fast."""
        series, buckets = len(self.names), self.buckets
        missing = np.isnan(by_series)
        slots = self.bucket_indices(by_series) + (np.arange(series) * buckets)[:, None]
        counts = np.bincount(slots.ravel(), minlength=series * buckets).reshape(series, buckets)
        missing_counts = missing.sum(axis=1)
        counts[:, 0] -= missing_counts  # NaN is below no edge: bucket_indices put it in the first bucket
        return counts, missing_counts, np.where(missing, 0.0, by_series).sum(axis=1)


@dataclass(frozen=True)
class CategoryBuckets:
    """One categorical feature's buckets: its named values, then __other__, then __unseen__."""

    feature: str
    labels: tuple[str, ...]
    index: Mapping[str, int]
    """Every value training saw, mapped to its bucket (named, or __other__)."""

    @classmethod
    def of(cls, feature: str, named: Iterable[str], known: Iterable[str]) -> CategoryBuckets:
        labels = tuple(dict.fromkeys(v for v in named if v not in (OTHER, UNSEEN)))
        index = {value: len(labels) for value in known}
        index.update({value: i for i, value in enumerate(labels)})
        return cls(feature=feature, labels=(*labels, OTHER, UNSEEN), index=index)

    @property
    def unseen(self) -> int:
        return len(self.labels) - 1

    def count(self, values: np.ndarray) -> tuple[np.ndarray, int]:
        """Per-bucket counts of a column of str/NaN, and the number of missing values."""
        counts = np.zeros(len(self.labels), dtype=np.int64)
        missing = 0
        index, unseen = self.index, self.unseen
        for value in values.tolist():
            if value != value:
                missing += 1
            else:
                counts[index.get(value, unseen)] += 1
        return counts, missing


@dataclass(frozen=True)
class FeatureBuckets:
    numeric: NumericEdges
    categorical: tuple[CategoryBuckets, ...]


def profile_edges(profile: Mapping[str, Any] | None, column: str) -> tuple[float, ...]:
    entry = ((profile or {}).get("columns") or {}).get(column) or {}
    return tuple(float(edge) for edge in entry.get("binEdges") or () if edge is not None)


def profile_categories(profile: Mapping[str, Any] | None, column: str) -> tuple[str, ...]:
    entry = ((profile or {}).get("columns") or {}).get(column) or {}
    values = [str(item.get("value")) for item in entry.get("frequencies") or () if item.get("value") is not None]
    if entry.get("type") == "boolean":
        values = [PROFILE_BOOLEAN_LABELS.get(value, value) for value in values]
    return tuple(values)


def feature_buckets(
    numeric: Iterable[str],
    categorical: Iterable[str],
    profile: Mapping[str, Any] | None,
    training_categories: Mapping[str, Iterable[str]],
) -> FeatureBuckets:
    """Buckets of every feature from the training profile; `training_categories` are the values
    the model's encoder learned (they decide what is unseen)."""
    numeric = tuple(numeric)
    categories = []
    for name in categorical:
        named = profile_categories(profile, name)
        categories.append(CategoryBuckets.of(name, named, [*named, *training_categories.get(name, ())]))
    return FeatureBuckets(
        numeric=NumericEdges.of(numeric, (profile_edges(profile, n) for n in numeric)), categorical=tuple(categories)
    )
