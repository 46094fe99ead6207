"""One served model's request logic, with no HTTP in it: JSON documents in, JSON documents out.

Everything a request needs is resolved at start-up (signature, predictor, buckets), so an
infer call does no lookup by name: decode the tensors, predict, count, answer.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from typing import Any

from ballast.serving.distributions import Distributions
from ballast.serving.errors import BadRequest, ModelNotFound
from ballast.serving.feedback import FeedbackCounts, PredictionLog, parse_feedback
from ballast.serving.predictor import Prediction, Predictor
from ballast.serving.protocol import model_metadata, output_names, output_tensors
from ballast.serving.signature import ModelSignature
from ballast.serving.tensors import batch_from_inputs, parse_infer_request


def _id_source() -> itertools.count:
    return itertools.count(1)


@dataclass
class ModelService:
    signature: ModelSignature
    predictor: Predictor
    live: Distributions
    feedback_counts: FeedbackCounts
    prediction_log: PredictionLog
    # Ids the server makes up: unique per process (a random prefix) and cheap (a counter).
    _id_prefix: str = field(default_factory=lambda: os.urandom(6).hex())
    _ids: itertools.count = field(default_factory=_id_source)

    def __post_init__(self) -> None:
        self.outputs = output_names(self.signature)
        self.metadata = model_metadata(self.signature, self.predictor.kind)

    def check_model(self, name: str, version: str | None) -> None:
        if name != self.signature.name:
            raise ModelNotFound(f"unknown model {name!r}; this server serves {self.signature.name!r}")
        if version is not None and version != self.signature.version:
            raise ModelNotFound(f"unknown version {version!r} of model {name!r}; "
                                f"this server serves version {self.signature.version!r}")

    def _predict(self, batch: Any) -> Prediction:
        try:
            return self.predictor.predict(batch)
        except ValueError as error:
            # scikit-learn's own refusal of a value it cannot take (e.g. too large for float32).
            raise BadRequest(f"the model cannot take this input: {error}") from None

    def infer(self, document: Any, *, record: bool = True) -> dict[str, Any]:
        request = parse_infer_request(document, self.signature.columns, self.outputs)
        prediction = self._predict(request.batch)
        labels = prediction.labels.tolist()
        response_id = request.id or f"{self._id_prefix}-{next(self._ids)}"
        if record:
            self.live.record_features(request.batch)
            self.live.record_prediction(prediction, labels)
            self.prediction_log.remember(response_id, labels)
        return {"model_name": self.signature.name, "model_version": self.signature.version, "id": response_id,
                "outputs": output_tensors(self.signature, labels, prediction.probabilities, request.outputs)}

    def feedback(self, document: Any) -> dict[str, Any]:
        items = parse_feedback(document)
        counts = self.feedback_counts
        # Everything is checked before anything is counted: a bad item refuses the whole call.
        resolved: list[tuple[list[Any], list[Any] | None, str | None]] = []
        for position, item in enumerate(items):
            where = f"feedback {position}"
            counts.check_labels(item.labels, where)
            if item.id is not None:
                predicted = self.prediction_log.peek(item.id)
                if predicted is not None and len(predicted) != len(item.labels):
                    raise BadRequest(f"{where}: response {item.id!r} had {len(predicted)} row(s), "
                                     f"`labels` has {len(item.labels)}")
                resolved.append((item.labels, predicted, item.id))
            else:
                batch = batch_from_inputs(item.inputs, self.signature.columns)
                if batch.rows != len(item.labels):
                    raise BadRequest(f"{where}: the inputs have {batch.rows} row(s), `labels` has {len(item.labels)}")
                resolved.append((item.labels, self._predict(batch).labels.tolist(), None))
        matched = unmatched = 0
        unknown_ids = []
        for labels, predicted, response_id in resolved:
            labelled = sum(label is not None for label in labels)
            if predicted is None:
                unmatched += labelled
                unknown_ids.append(response_id)
                continue
            if response_id is not None:
                self.prediction_log.forget(response_id)
            matched += counts.record(labels, predicted)
        counts.rows["matched"] += matched
        counts.rows["unmatched"] += unmatched
        return {"model_name": self.signature.name, "model_version": self.signature.version,
                "matched": matched, "unmatched": unmatched, "unknown_ids": unknown_ids}
