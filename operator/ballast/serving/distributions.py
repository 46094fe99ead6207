"""Running counts of what the model saw and predicted: the live side of drift detection.

One `Distributions` per served model. The server counts every inferred batch into it, and
`reference.py` counts the training snapshot into a second one, so live traffic and the
reference are bucketed by exactly the same code. Requests change the arrays under the
ModelService's lock (large ones from a worker thread); a scrape reads them without it, so it
may see one request half counted, never a torn number.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ballast.serving.buckets import PROBABILITY_EDGES, FeatureBuckets, NumericEdges
from ballast.serving.predictor import Prediction
from ballast.serving.tensors import FeatureBatch


class Distributions:
    def __init__(self, buckets: FeatureBuckets, classes: tuple[Any, ...], target_edges: tuple[float, ...]) -> None:
        self.buckets = buckets
        numeric = buckets.numeric
        self.rows = 0
        self.feature_counts = np.zeros((len(numeric.names), numeric.buckets), dtype=np.int64)
        self.feature_missing = np.zeros(len(numeric.names), dtype=np.int64)
        self.feature_sums = np.zeros(len(numeric.names), dtype=np.float64)
        self.category_counts = [np.zeros(len(c.labels), dtype=np.int64) for c in buckets.categorical]
        self.category_missing = np.zeros(len(buckets.categorical), dtype=np.int64)

        self.classes = classes
        self.class_index = {label: i for i, label in enumerate(classes)}
        self.class_counts = np.zeros(len(classes), dtype=np.int64)
        self.probability_edges = NumericEdges.of(["max", *map(str, classes)], [PROBABILITY_EDGES] * (1 + len(classes)))
        self.probability_counts = np.zeros((1 + len(classes), self.probability_edges.buckets), dtype=np.int64)
        self.probability_sums = np.zeros(1 + len(classes), dtype=np.float64)
        self.target_edges = NumericEdges.of(["prediction"], [target_edges])
        self.value_counts = np.zeros(self.target_edges.buckets, dtype=np.int64)
        self.value_sum = 0.0

    def record_features(self, batch: FeatureBatch) -> None:
        self.rows += batch.rows
        if batch.numeric.shape[1]:
            counts, missing, sums = self.buckets.numeric.count(batch.numeric)
            self.feature_counts += counts
            self.feature_missing += missing
            self.feature_sums += sums
        for j, category in enumerate(self.buckets.categorical):
            counts, missing = category.count(batch.categorical[:, j])
            self.category_counts[j] += counts
            self.category_missing[j] += missing

    def record_labels(self, labels: list[Any]) -> None:
        """Classes by label (unknown labels, which the model cannot predict, are ignored)."""
        index = self.class_index
        for label in labels:
            position = index.get(label)
            if position is not None:
                self.class_counts[position] += 1

    def record_values(self, values: np.ndarray) -> None:
        counts, _, sums = self.target_edges.count(values.reshape(-1, 1))
        self.value_counts += counts[0]
        self.value_sum += float(sums[0])

    def record_prediction(self, prediction: Prediction, labels: list[Any]) -> None:
        """`labels` is prediction.labels as JSON values (the server has them for the response)."""
        if prediction.probabilities is None:
            self.record_values(prediction.labels.astype(np.float64, copy=False))
            return
        self.record_labels(labels)
        probabilities = prediction.probabilities
        table = np.concatenate([probabilities.max(axis=1, keepdims=True), probabilities], axis=1)
        counts, _, sums = self.probability_edges.count(table)
        self.probability_counts += counts
        self.probability_sums += sums
