"""True labels for earlier predictions, and what they say about the model's accuracy.

    POST /v2/models/{name}/feedback
    {"id": "<the id of an infer response>", "labels": [<true label per row of that request>]}
    {"inputs": [<tensors, as in an infer request>], "labels": [<true label per row>]}
    [<either of the above>, ...]

By id, the labels are matched with the predictions the server remembers for that response
(a log of recent responses, bounded in entries and in bytes, oldest forgotten first): each
prediction takes feedback once, so a retried feedback call cannot count twice. A client-chosen
request id that the log already holds is refused (409), so one client cannot overwrite
another's predictions; ids the server makes up are random (128 bits), so they cannot be
guessed. By value, the model predicts the inputs again; those rows are not live traffic, so
they are not counted in the feature histograms. A null label skips its row. The answer says
how many rows matched a prediction.
"""

from __future__ import annotations

import math
import sys
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ballast.serving.errors import BadRequest, IdInUse
from ballast.serving.limits import ServingLimits

DEFAULT_LOG_SIZE = ServingLimits.prediction_log_entries
DEFAULT_LOG_BYTES = ServingLimits.prediction_log_bytes
UNSEEN_CLASS = "__unseen__"
FLOAT_MAX = sys.float_info.max
ENTRY_OVERHEAD_BYTES = 200
"""The log's own cost per entry: its slot in the ordered dict, the key and the list objects."""


def entry_bytes(response_id: str, predictions: list[Any], groups: np.ndarray | None = None) -> int:
    """An estimate of what one entry holds in memory (the labels of one model are alike, so
    the first one stands for all: O(1) even for a 10,000-row response)."""
    per_row = 8 + (sys.getsizeof(predictions[0]) if predictions else 0)
    held = 0 if groups is None else groups.nbytes
    return ENTRY_OVERHEAD_BYTES + sys.getsizeof(response_id) + per_row * len(predictions) + held


class PredictionLog:
    """The predictions of recent responses, by response id: at most `capacity` entries and
    `max_bytes` estimated bytes, the oldest forgotten first. A response larger than `max_bytes`
    on its own is not remembered (its feedback then counts as unmatched)."""

    def __init__(self, capacity: int = DEFAULT_LOG_SIZE, max_bytes: int = DEFAULT_LOG_BYTES) -> None:
        self.capacity = capacity
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[str, tuple[list[Any], np.ndarray | None, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, response_id: str) -> bool:
        return response_id in self._entries

    def remember(self, response_id: str, predictions: list[Any], groups: np.ndarray | None = None) -> None:
        """IdInUse if the log already holds `response_id`: a client-chosen id is first come,
        first served until its feedback arrives or it is forgotten. `groups` are the rows' groups
        of the sensitive feature (ballast.serving.groups), kept so feedback can count by group."""
        if response_id in self._entries:
            raise IdInUse(
                f"request id {response_id!r} is already in use by an earlier response awaiting "
                "feedback; choose a unique id per request, or send none and the server makes one up"
            )
        size = entry_bytes(response_id, predictions, groups)
        if self.capacity <= 0 or size > self.max_bytes:
            return
        entries = self._entries
        entries[response_id] = (predictions, groups, size)
        self.bytes += size
        while len(entries) > self.capacity or self.bytes > self.max_bytes:
            _, (_, _, forgotten) = entries.popitem(last=False)
            self.bytes -= forgotten

    def peek(self, response_id: str) -> list[Any] | None:
        entry = self._entries.get(response_id)
        return None if entry is None else entry[0]

    def groups(self, response_id: str) -> np.ndarray | None:
        entry = self._entries.get(response_id)
        return None if entry is None else entry[1]

    def forget(self, response_id: str) -> None:
        entry = self._entries.pop(response_id, None)
        if entry is not None:
            self.bytes -= entry[2]


@dataclass(frozen=True)
class FeedbackItem:
    labels: list[Any]
    id: str | None = None
    inputs: Any = None


def parse_feedback(document: Any, limits: ServingLimits = ServingLimits()) -> list[FeedbackItem]:
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
        if len(labels) > limits.max_rows:
            raise BadRequest(f"{where}: {len(labels)} labels; at most {limits.max_rows} rows per item")
        has_id, has_inputs = entry.get("id") is not None, entry.get("inputs") is not None
        if has_id == has_inputs:
            raise BadRequest(f"{where}: give either `id` (of an infer response) or `inputs`, not both or neither")
        if has_id and not isinstance(entry["id"], str):
            raise BadRequest(f"{where}: `id` must be a string")
        if has_id and len(entry["id"]) > limits.max_id_length:
            raise BadRequest(f"{where}: `id` has {len(entry['id'])} characters; at most {limits.max_id_length}")
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

    def true_class_positions(self, labels: list[Any]) -> list[int]:
        """Each label's row of the confusion matrix (len(classes): none of the classes); -1 for
        a null label, which skips its row."""
        return [-1 if label is None else self._class_of(label) for label in labels]

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
                raise BadRequest(f"{where}: a regressor's true label must be a number, got {str(label)[:64]!r}")
            # One NaN or infinity would make the error sums NaN for the life of the process,
            # and an integer beyond any float would fail float() in record().
            finite = abs(label) <= FLOAT_MAX if isinstance(label, int) else label is None or math.isfinite(label)
            if not finite:
                raise BadRequest(f"{where}: a regressor's true label must be finite (null skips a row)")

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
