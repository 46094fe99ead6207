"""True labels for earlier predictions, and what they say about the model's accuracy.

    POST /v2/models/{name}/feedback
    {"id": "<the id of an infer response>", "labels": [<true label per row of that request>]}
    {"inputs": [<tensors, as in an infer request>], "labels": [<true label per row>]}
    [<either of the above>, ...]

By id, the labels are matched with the predictions the server remembers for that response
(a bounded, least-recently-used log of recent responses): each prediction takes feedback
once, so a retried feedback call cannot count twice. By value, the model predicts the inputs
again; those rows are not live traffic, so they are not counted in the feature histograms.
A null label skips its row. The answer says how many rows matched a prediction.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ballast.serving.errors import BadRequest

DEFAULT_LOG_SIZE = 10_000
UNSEEN_CLASS = "__unseen__"


class PredictionLog:
    """The predictions of the last `capacity` responses, by response id."""

    def __init__(self, capacity: int = DEFAULT_LOG_SIZE) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[str, list[Any]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def remember(self, response_id: str, predictions: list[Any]) -> None:
        if self.capacity <= 0:
            return
        entries = self._entries
        entries[response_id] = predictions
        entries.move_to_end(response_id)
        if len(entries) > self.capacity:
            entries.popitem(last=False)

    def peek(self, response_id: str) -> list[Any] | None:
        return self._entries.get(response_id)

    def forget(self, response_id: str) -> None:
        self._entries.pop(response_id, None)


@dataclass(frozen=True)
class FeedbackItem:
    labels: list[Any]
    id: str | None = None
    inputs: Any = None


def parse_feedback(document: Any) -> list[FeedbackItem]:
    documents = document if isinstance(document, list) else [document]
    if not documents:
        raise BadRequest("the feedback list is empty")
    items = []
    for position, entry in enumerate(documents):
        where = f"feedback {position}" if isinstance(document, list) else "feedback"
        if not isinstance(entry, dict):
            raise BadRequest(f"{where} must be an object with `labels` and either `id` or `inputs`")
        labels = entry.get("labels")
        if not isinstance(labels, list) or not labels:
            raise BadRequest(f"{where}: `labels` must be a non-empty list, one true label per row")
        has_id, has_inputs = entry.get("id") is not None, entry.get("inputs") is not None
        if has_id == has_inputs:
            raise BadRequest(f"{where}: give either `id` (of an infer response) or `inputs`, not both or neither")
        if has_id and not isinstance(entry["id"], str):
            raise BadRequest(f"{where}: `id` must be a string")
        items.append(FeedbackItem(labels=labels, id=entry.get("id"), inputs=entry.get("inputs")))
    return items


class FeedbackCounts:
    """Confusion counts (classifiers) or error sums (regressors) of every matched row."""

    def __init__(self, classes: Sequence[Any]) -> None:
        self.classes = tuple(classes)
        self._index = {label: i for i, label in enumerate(self.classes)}
        self._by_text = {str(label): i for i, label in enumerate(self.classes)}
        # Row len(classes) holds true labels that are none of the model's classes.
        self.confusion = np.zeros((len(self.classes) + 1, len(self.classes)), dtype=np.int64)
        self.rows = {"matched": 0, "unmatched": 0}
        """Labelled rows that met their prediction, and those whose id was unknown or expired."""
        self.count = 0
        self.absolute_error = 0.0
        self.squared_error = 0.0
        self.signed_error = 0.0
        """Sum of (predicted - true): its sign says which way a regressor is off."""

    @property
    def true_class_labels(self) -> tuple[str, ...]:
        return (*map(str, self.classes), UNSEEN_CLASS)

    def _class_of(self, label: Any) -> int:
        if not isinstance(label, (dict, list)):
            position = self._index.get(label)
            if position is None:
                position = self._by_text.get(str(label))
            if position is not None:
                return position
        return len(self.classes)

    def check_labels(self, labels: list[Any], where: str) -> None:
        """BadRequest unless every label is usable (null, or a number for a regressor)."""
        if self.classes:
            if any(isinstance(label, (dict, list)) for label in labels):
                raise BadRequest(f"{where}: a class label must be a string, number or boolean")
            return
        for label in labels:
            if label is not None and (isinstance(label, bool) or not isinstance(label, (int, float))):
                raise BadRequest(f"{where}: a regressor's true label must be a number, got {label!r}")

    def record(self, true_labels: list[Any], predicted: list[Any]) -> int:
        """Counts each labelled row; returns how many rows had a label."""
        matched = 0
        for truth, prediction in zip(true_labels, predicted):
            if truth is None:
                continue
            matched += 1
            if self.classes:
                predicted_position = self._index.get(prediction)
                if predicted_position is not None:
                    self.confusion[self._class_of(truth), predicted_position] += 1
            else:
                error = float(prediction) - float(truth)
                self.count += 1
                self.absolute_error += abs(error)
                self.squared_error += error * error
                self.signed_error += error
        return matched
