"""One served model's request logic, with no HTTP in it: JSON documents (and binary tensors) in and out.

Everything a request needs is resolved at start-up (signature, predictor, buckets), so an
infer call does no lookup by name: decode the tensors, predict, count, answer.

Calls may come from several threads at once (the app predicts large requests off the event
loop): decoding and predicting touch nothing shared; counting and the prediction log are
changed under one lock, and a request is refused before anything of it is counted.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ballast.serving.distributions import Distributions
from ballast.serving.errors import BadRequest, ModelNotFound
from ballast.serving.feedback import FeedbackCounts, FeedbackItem, PredictionLog, parse_feedback
from ballast.serving.groups import GroupCounts
from ballast.serving.limits import ServingLimits
from ballast.serving.predictor import Prediction, Predictor
from ballast.serving.protocol import InferResponse, json_text, model_metadata, output_names, output_tensors
from ballast.serving.signature import ModelSignature
from ballast.serving.tensors import batch_from_inputs, parse_infer_request

RESPONSE_ID_BYTES = 16
"""128 random bits: another client cannot guess an id to send feedback for it (base64url: 22
characters, limits.SERVER_ID_LENGTH)."""


def new_response_id() -> str:
    return secrets.token_urlsafe(RESPONSE_ID_BYTES)


@dataclass
class ModelService:
    signature: ModelSignature
    predictor: Predictor
    live: Distributions
    feedback_counts: FeedbackCounts
    limits: ServingLimits = field(default_factory=ServingLimits)
    """Fixed for the service's life: the app and the server read theirs from here too."""
    groups: GroupCounts | None = None
    """Counts by group of the sensitive feature training measured fairness on, if any."""
    prediction_log: PredictionLog = field(init=False)
    """Bounded by `limits` (entries and bytes), so no caller can build one that is not."""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.outputs = output_names(self.signature)
        self.metadata = model_metadata(self.signature, self.predictor.kind)
        self.classes_text = json_text(self.signature.classes)
        self.prediction_log = PredictionLog(self.limits.prediction_log_entries, self.limits.prediction_log_bytes)

    def check_model(self, name: str, version: str | None) -> None:
        if name != self.signature.name:
            raise ModelNotFound(f"unknown model {name!r}; this server serves {self.signature.name!r}")
        if version is not None and version != self.signature.version:
            raise ModelNotFound(
                f"unknown version {version!r} of model {name!r}; this server serves version {self.signature.version!r}"
            )

    def _predict(self, batch: Any) -> Prediction:
        try:
            return self.predictor.predict(batch)
        except ValueError as error:
            # scikit-learn's own refusal of a value it cannot take (e.g. too large for float32).
            raise BadRequest(f"the model cannot take this input: {error}") from None

    def infer(self, document: Any, section: memoryview | None = None, *, record: bool = True) -> InferResponse:
        """`section` is the binary data that followed the JSON `document`, if any."""
        request = parse_infer_request(document, self.signature.columns, self.outputs, self.limits, section)
        prediction = self._predict(request.batch)
        labels = prediction.labels.tolist()
        response_id = request.id or new_response_id()
        if record:
            groups = None if self.groups is None else self.groups.groups_of(request.batch)
            with self._lock:
                self.prediction_log.remember(response_id, labels, groups)  # first: IdInUse counts nothing
                self.live.hold(request.batch, prediction)
                if self.groups is not None and groups is not None:
                    self.groups.record_predictions(groups, labels)
        outputs, binary_outputs = output_tensors(
            self.signature, labels, prediction.probabilities, request.outputs, request.binary_outputs, self.classes_text
        )
        document = {
            "model_name": self.signature.name,
            "model_version": self.signature.version,
            "id": response_id,
            "outputs": outputs,
        }
        return InferResponse(document, binary_outputs)

    def feedback(self, document: Any) -> dict[str, Any]:
        items = parse_feedback(document, self.limits)
        counts = self.feedback_counts
        # Everything is checked before anything is counted: a bad item refuses the whole call.
        by_value: dict[int, tuple[list[Any], np.ndarray | None]] = {}
        for position, item in enumerate(items):
            where = f"feedback {position}"
            counts.check_labels(item.labels, where)
            if item.id is None:
                batch = batch_from_inputs(item.inputs, self.signature.columns, self.limits.max_rows)
                if batch.rows != len(item.labels):
                    raise BadRequest(f"{where}: the inputs have {batch.rows} row(s), `labels` has {len(item.labels)}")
                groups = None if self.groups is None else self.groups.groups_of(batch)
                by_value[position] = (self._predict(batch).labels.tolist(), groups)
        with self._lock:
            return self._record_feedback(items, by_value)

    def _record_feedback(
        self, items: list[FeedbackItem], by_value: dict[int, tuple[list[Any], np.ndarray | None]]
    ) -> dict[str, Any]:
        counts = self.feedback_counts
        resolved: list[tuple[list[Any], list[Any] | None, str | None, np.ndarray | None]] = []
        seen: set[str] = set()
        for position, item in enumerate(items):
            if item.id is None:
                predicted_by_value, groups_by_value = by_value[position]
                resolved.append((item.labels, predicted_by_value, None, groups_by_value))
                continue
            # An id given twice in one call takes feedback once, as it would over two calls.
            predicted = None if item.id in seen else self.prediction_log.peek(item.id)
            groups = None if predicted is None else self.prediction_log.groups(item.id)
            seen.add(item.id)
            if predicted is not None and len(predicted) != len(item.labels):
                raise BadRequest(
                    f"feedback {position}: response {item.id!r} had {len(predicted)} row(s), "
                    f"`labels` has {len(item.labels)}"
                )
            resolved.append((item.labels, predicted, item.id, groups))
        matched = unmatched = 0
        unknown_ids = []
        for labels, predicted, response_id, groups in resolved:
            labelled = sum(label is not None for label in labels)
            if predicted is None:
                unmatched += labelled
                unknown_ids.append(response_id)
                continue
            if response_id is not None:
                self.prediction_log.forget(response_id)
            matched += counts.record(labels, predicted)
            if self.groups is not None and groups is not None:
                self.groups.record_feedback(groups, counts.true_class_positions(labels), predicted)
        counts.rows["matched"] += matched
        counts.rows["unmatched"] += unmatched
        return {
            "model_name": self.signature.name,
            "model_version": self.signature.version,
            "matched": matched,
            "unmatched": unmatched,
            "unknown_ids": unknown_ids,
        }
