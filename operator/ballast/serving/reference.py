"""The reference distribution: the training snapshot counted into the live buckets, as ratios.

Drift detection compares the live counters with these ratios from a single scrape. They are
computed once at start-up from the dataset version the model was trained on, with the same
Distributions class that counts live traffic, so a bucket means the same on both sides.
Ratios of a feature are over its present values; missing values have a ratio of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ballast.serving.buckets import FeatureBuckets, le_labels
from ballast.serving.distributions import Distributions
from ballast.serving.tensors import FeatureBatch
from ballast.training.features import FeatureColumns, feature_frame


@dataclass(frozen=True)
class Reference:
    rows: int
    feature_bins: dict[str, dict[str, float]]
    """feature -> bin label (an `le` value for numeric features, a category otherwise) -> ratio."""
    feature_missing: dict[str, float]
    prediction_bins: dict[str, float]
    """class -> ratio of the training target (classifiers), or `le` -> ratio (regressors)."""


def _ratios(counts: np.ndarray, labels: tuple[str, ...]) -> dict[str, float]:
    total = int(counts.sum())
    return {label: (float(count) / total if total else 0.0) for label, count in zip(labels, counts.tolist())}


def _target_labels(values: pd.Series, classes: tuple[Any, ...]) -> list[Any]:
    """Target values as the class labels they train as (an integral float is an int class)."""
    by_text = {str(label): label for label in classes}
    labels = []
    for value in values.dropna().tolist():
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        labels.append(by_text.get(str(value)))
    return labels


def reference_from_frame(
    frame: pd.DataFrame,
    columns: FeatureColumns,
    buckets: FeatureBuckets,
    classes: tuple[Any, ...],
    target_edges: tuple[float, ...],
) -> Reference:
    """Counts the training data (snapshot rows, feature and target columns) into live buckets."""
    features = feature_frame(frame, columns)
    batch = FeatureBatch(
        rows=len(features),
        numeric=features[list(columns.numeric)].to_numpy(dtype=np.float64),
        categorical=features[list(columns.categorical)].to_numpy(dtype=object),
    )
    counts = Distributions(buckets, classes, target_edges)
    counts.record_features(batch)

    bins: dict[str, dict[str, float]] = {}
    missing: dict[str, float] = {}
    rows = max(batch.rows, 1)
    for i, name in enumerate(buckets.numeric.names):
        # The +Inf bucket of a series sits right after its own edges; later columns are padding.
        row = counts.feature_counts[i, : len(buckets.numeric.edges[i]) + 1]
        bins[name] = _ratios(row, le_labels(buckets.numeric.edges[i]))
        missing[name] = float(counts.feature_missing[i]) / rows
    for j, category in enumerate(buckets.categorical):
        bins[category.feature] = _ratios(counts.category_counts[j], category.labels)
        missing[category.feature] = float(counts.category_missing[j]) / rows

    target = frame[columns.target] if columns.target in frame.columns else pd.Series([], dtype=float)
    if classes:
        counts.record_labels(_target_labels(target, classes))
        prediction = _ratios(counts.class_counts, tuple(map(str, classes)))
    else:
        counts.record_values(pd.to_numeric(target, errors="coerce").dropna().to_numpy(dtype=np.float64))
        row = counts.value_counts[: len(counts.target_edges.edges[0]) + 1]
        prediction = _ratios(row, le_labels(counts.target_edges.edges[0]))
    return Reference(rows=batch.rows, feature_bins=bins, feature_missing=missing, prediction_bins=prediction)
