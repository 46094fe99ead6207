"""Predictions and feedback counted by group of the model's sensitive feature: what the
fairness check reads.

The sensitive feature is the one training measured fairness on (metadata.json `fairness`), so
the live gap is measured on the same groups as training's. Groups are the feature's drift
buckets (ballast.serving.buckets): a categorical feature's named values, `__other__` and
`__unseen__`; a numeric feature's training bins, named by their `le`. A missing value is a group
of its own, as in training. At most MAX_GROUPS groups are exported: the buckets beyond the cap
are folded into `__other__`, and the reference says how many were (cardinality stays bounded
whatever the profile holds).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ballast.serving.buckets import OTHER, FeatureBuckets, le_labels
from ballast.serving.tensors import FeatureBatch

MAX_GROUPS = 12
"""Groups exported per sensitive feature: a decile-binned numeric feature (11 bins) fits whole."""
MISSING_GROUP = "<missing>"
"""The group of a missing value (ballast.training.fairness names it alike)."""


@dataclass(frozen=True)
class GroupFolding:
    """Bucket index -> exported group index, for one feature."""

    feature: str
    numeric_position: int | None
    """The feature's column among the numeric features, None for a categorical one."""
    categorical_position: int | None
    bucket_to_group: np.ndarray
    labels: tuple[str, ...]
    """The exported groups; MISSING_GROUP last."""
    folded: int
    """Buckets merged into __other__ beyond the cap."""

    @property
    def missing(self) -> int:
        return len(self.labels) - 1


def fold_groups(bucket_labels: Sequence[str], cap: int = MAX_GROUPS) -> tuple[np.ndarray, tuple[str, ...], int]:
    """Each bucket's group index, the group labels and how many buckets were folded. With more
    buckets than `cap`, the first cap - 1 stay (a categorical feature's most frequent values come
    first) and every other one goes into __other__ (the bucket of that name included)."""
    if len(bucket_labels) <= cap:
        return np.arange(len(bucket_labels)), tuple(bucket_labels), 0
    kept = [label for label in bucket_labels if label != OTHER][: cap - 1]
    position = {label: i for i, label in enumerate(kept)}
    index = np.array([position.get(label, len(kept)) for label in bucket_labels])
    folded = len(bucket_labels) - len(kept) - (1 if OTHER in bucket_labels else 0)
    return index, (*kept, OTHER), folded


def group_folding(buckets: FeatureBuckets, feature: str, cap: int = MAX_GROUPS) -> GroupFolding | None:
    """None when `feature` is not an input of the model (the server cannot see it)."""
    numeric = buckets.numeric
    if feature in numeric.names:
        i = numeric.names.index(feature)
        index, labels, folded = fold_groups(le_labels(numeric.edges[i]), cap)
        return GroupFolding(feature, i, None, index, (*labels, MISSING_GROUP), folded)
    for j, category in enumerate(buckets.categorical):
        if category.feature == feature:
            index, labels, folded = fold_groups(category.labels, cap)
            return GroupFolding(feature, None, j, index, (*labels, MISSING_GROUP), folded)
    return None


class GroupCounts:
    """Predictions by (group, predicted class) and feedback by (group, true class, predicted class);
    true class len(classes) is a label none of the classes (__unseen__, as in FeedbackCounts)."""

    def __init__(self, folding: GroupFolding, buckets: FeatureBuckets, classes: Sequence[Any]) -> None:
        self.folding, self.buckets, self.classes = folding, buckets, tuple(classes)
        self._class_index = {label: i for i, label in enumerate(self.classes)}
        groups = len(folding.labels)
        self.predictions = np.zeros((groups, len(self.classes)), dtype=np.int64)
        self.feedback = np.zeros((groups, len(self.classes) + 1, len(self.classes)), dtype=np.int64)

    def groups_of(self, batch: FeatureBatch) -> np.ndarray:
        """The exported group of each row."""
        folding = self.folding
        if folding.numeric_position is not None:
            # the first edge >= v, as NumericEdges.bucket_indices finds it, on this feature's edges only
            column = batch.numeric[:, folding.numeric_position : folding.numeric_position + 1]
            indices = (column > self.buckets.numeric.matrix[folding.numeric_position][None, :]).sum(axis=1)
            missing = np.isnan(column[:, 0])
        else:
            category = self.buckets.categorical[folding.categorical_position or 0]
            values = batch.categorical[:, folding.categorical_position].tolist()
            missing = np.array([value != value for value in values], dtype=bool)
            indices = np.array(
                [category.index.get(value, category.unseen) if value == value else 0 for value in values]
            )
        groups = folding.bucket_to_group[indices.astype(np.int64)] if len(indices) else np.zeros(0, dtype=np.int64)
        return np.where(missing, folding.missing, groups).astype(np.int16)

    def record_predictions(self, groups: np.ndarray, labels: Sequence[Any]) -> None:
        for group, label in zip(groups.tolist(), labels):
            position = self._class_index.get(label)
            if position is not None:
                self.predictions[group, position] += 1

    def record_feedback(self, groups: np.ndarray, true_classes: Sequence[int], predicted: Sequence[Any]) -> None:
        """`true_classes` are FeedbackCounts positions (len(classes) for an unknown label, -1 to skip)."""
        for group, truth, label in zip(groups.tolist(), true_classes, predicted):
            position = self._class_index.get(label)
            if truth >= 0 and position is not None:
                self.feedback[group, truth, position] += 1
