"""Running counts of what the model saw and predicted: the live side of drift detection.

One `Distributions` per served model. The server counts every inferred batch into it, and
`reference.py` counts the training snapshot into a second one, so live traffic and the
reference are bucketed by exactly the same code.

A request does not count what it saw: it `hold`s its batch and prediction (a constant number
of Python operations, whatever its rows and features), and `settle` counts everything held in
one vectorised pass, when a scrape asks (DriftCollector) or once the held values reach
HELD_VALUES. Counting 1,000 one-row requests at once costs about what one request's count did,
and the memory held stays bounded. A request too large for HOLDS_PER_SETTLE of its size to fit
is counted at once instead: its own count is already vectorised, and a settle paid every few
requests would land in the p99. Holding and settling take the instance's own lock (large
requests hold from a worker thread, a scrape settles from the event loop).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ballast.serving.buckets import PROBABILITY_EDGES, FeatureBuckets, NumericEdges
from ballast.serving.predictor import Prediction
from ballast.serving.tensors import FeatureBatch

HELD_VALUES = 1 << 18
"""Feature values held before they are counted: 2 MiB of float64, 65,536 rows of 4 features,
1,024 of 256; a settle of that many costs a few ms to tens of ms."""
HOLDS_PER_SETTLE = 256
"""A request is held only if this many of its size fit before a settle: at most one request in
256 pays for one, so settles stay out of the p99."""


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
        self._held: list[tuple[FeatureBatch, Prediction]] = []
        self._held_rows = 0
        self._held_row_limit = max(1, HELD_VALUES // max(1, len(numeric.names) + len(buckets.categorical)))
        self._lock = threading.Lock()

    def hold(self, batch: FeatureBatch, prediction: Prediction) -> None:
        """Keep a request's batch and prediction for the next settle (its arrays are not changed
        later: the server builds new ones for every request), or count a large one now."""
        with self._lock:
            if batch.rows * HOLDS_PER_SETTLE > self._held_row_limit:
                self._count(batch, prediction)
                return
            self._held.append((batch, prediction))
            self._held_rows += batch.rows
            if self._held_rows >= self._held_row_limit:
                self._settle_held()

    def settle(self) -> Distributions:
        """Count everything held; the counts are then complete. Returns itself, to read."""
        with self._lock:
            if self._held:
                self._settle_held()
        return self

    def _settle_held(self) -> None:
        held, self._held, self._held_rows = self._held, [], 0
        batches = [batch for batch, _ in held]
        predictions = [prediction for _, prediction in held]
        probabilities = [prediction.probabilities for prediction in predictions]
        self._count(
            FeatureBatch(
                rows=sum(batch.rows for batch in batches),
                numeric=np.concatenate([batch.numeric for batch in batches]),
                categorical=np.concatenate([batch.categorical for batch in batches]),
            ),
            Prediction(
                labels=np.concatenate([prediction.labels for prediction in predictions]),
                probabilities=None if probabilities[0] is None else np.concatenate(probabilities),
            ),
        )

    def _count(self, batch: FeatureBatch, prediction: Prediction) -> None:
        self.record_features(batch)
        self.record_prediction(prediction)

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

    def record_labels(self, labels: Sequence[Any] | np.ndarray) -> None:
        """Classes by label (unknown labels, which the model cannot predict, are ignored)."""
        if isinstance(labels, np.ndarray) and labels.dtype != object:
            values, counts = np.unique(labels, return_counts=True)  # numbers: sorted in C
            distinct: Iterable[tuple[Any, int]] = zip(values.tolist(), counts.tolist())
        else:  # strings: counted in C by hash
            distinct = Counter(labels.tolist() if isinstance(labels, np.ndarray) else labels).items()
        index = self.class_index
        for label, count in distinct:  # one step per distinct label
            position = index.get(label)
            if position is not None:
                self.class_counts[position] += count

    def record_values(self, values: np.ndarray) -> None:
        counts, _, sums = self.target_edges.count(values.reshape(-1, 1))
        self.value_counts += counts[0]
        self.value_sum += float(sums[0])

    def record_prediction(self, prediction: Prediction) -> None:
        if prediction.probabilities is None:
            self.record_values(prediction.labels.astype(np.float64, copy=False))
            return
        self.record_labels(prediction.labels)
        by_class = np.ascontiguousarray(prediction.probabilities.T)
        counts, _, sums = self.probability_edges.count_series(np.vstack([by_class.max(axis=0), by_class]))
        self.probability_counts += counts
        self.probability_sums += sums
