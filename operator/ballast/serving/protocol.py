"""Open Inference Protocol documents the server answers with (pure functions of the signature).

Outputs of an infer response:
  predict        shape [n]; class labels (INT64, BOOL or BYTES, as the classes are) or FP64 values
  predict_proba  shape [n, classes]; FP64, classifiers only; `parameters.classes` names the columns

The protocol allows a parameter only a string, number or boolean value (its gRPC form,
InferParameter, has no field for anything else, so a client that maps REST parameters onto it
has nowhere to put a list), so a list such as `classes` or `features` is sent as its JSON text:
`json.loads(parameters["classes"])` gives the list back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import ballast
from ballast.serving import binary
from ballast.serving.signature import ModelSignature

PREDICT = "predict"
PREDICT_PROBA = "predict_proba"
PLATFORM = "sklearn"
EXTENSIONS = ("ballast-feedback", "prometheus-metrics", "binary_tensor_data")
"""binary_tensor_data is Triton's name for the binary extension (ballast.serving.binary)."""
_WIRE_TYPES = {"FP64": "<f8", "INT64": "<i8", "BOOL": "?"}
"""The binary form of each datatype an output can have (BYTES is packed element by element)."""


@dataclass(frozen=True)
class InferResponse:
    document: dict[str, Any]
    binary_outputs: list[bytes] = field(default_factory=list)
    """The binary data of the outputs that have `parameters.binary_data_size`, in their order."""


def output_names(signature: ModelSignature) -> tuple[str, ...]:
    return (PREDICT, PREDICT_PROBA) if signature.is_classifier else (PREDICT,)


def label_datatype(signature: ModelSignature) -> str:
    if not signature.is_classifier:
        return "FP64"
    if all(isinstance(c, bool) for c in signature.classes):
        return "BOOL"
    if all(isinstance(c, int) and not isinstance(c, bool) for c in signature.classes):
        return "INT64"
    return "BYTES"


def input_datatypes(signature: ModelSignature) -> list[dict[str, Any]]:
    return [{"name": name, "datatype": "FP64", "shape": [-1]} for name in signature.columns.numeric] + [
        {"name": name, "datatype": "BYTES", "shape": [-1]} for name in signature.columns.categorical
    ]


def server_metadata() -> dict[str, Any]:
    return {"name": "ballast", "version": ballast.__version__, "extensions": list(EXTENSIONS)}


def json_text(values: tuple[Any, ...]) -> str:
    """A list as a parameter value: its compact JSON text."""
    return json.dumps(list(values), separators=(",", ":"))


def model_metadata(signature: ModelSignature, predictor_kind: str) -> dict[str, Any]:
    outputs = [{"name": PREDICT, "datatype": label_datatype(signature), "shape": [-1]}]
    if signature.is_classifier:
        outputs.append({"name": PREDICT_PROBA, "datatype": "FP64", "shape": [-1, len(signature.classes)]})
    return {
        "name": signature.name,
        "versions": [signature.version],
        "platform": PLATFORM,
        "inputs": input_datatypes(signature),
        "outputs": outputs,
        "parameters": {
            name: value
            for name, value in {
                "task": signature.task,
                "classes": json_text(signature.classes),
                "features": json_text(signature.features),
                "sha256": signature.sha256,
                "dataset": signature.dataset_name,
                "datasetSha256": signature.dataset_sha256,
                "predictor": predictor_kind,
            }.items()
            if value is not None
        },
    }


def _as_binary(output: dict[str, Any], values: Any, sections: list[bytes]) -> None:
    """Moves `values` out of the JSON `output` into the binary `sections`."""
    datatype = output["datatype"]
    data = binary.pack_bytes(values) if datatype == "BYTES" else np.asarray(values, _WIRE_TYPES[datatype]).tobytes()
    output.setdefault("parameters", {})[binary.BINARY_DATA_SIZE] = len(data)
    sections.append(data)


def output_tensors(
    signature: ModelSignature,
    labels: list[Any],
    probabilities: Any,
    wanted: tuple[str, ...] | None,
    in_binary: frozenset[str] = frozenset(),
    classes_text: str | None = None,
) -> tuple[list[dict[str, Any]], list[bytes]]:
    """The response's outputs, and the binary data of those named in `in_binary`. `classes_text`
    is json_text(signature.classes), which a caller answering many requests computes once."""
    outputs: list[dict[str, Any]] = []
    sections: list[bytes] = []
    rows = len(labels)
    if wanted is None or PREDICT in wanted:
        output: dict[str, Any] = {"name": PREDICT, "datatype": label_datatype(signature), "shape": [rows]}
        if PREDICT in in_binary:
            _as_binary(output, labels, sections)
        else:
            output["data"] = labels
        outputs.append(output)
    if signature.is_classifier and (wanted is None or PREDICT_PROBA in wanted):
        output = {
            "name": PREDICT_PROBA,
            "datatype": "FP64",
            "shape": [rows, len(signature.classes)],
            "parameters": {"classes": classes_text or json_text(signature.classes)},
        }
        if PREDICT_PROBA in in_binary:
            _as_binary(output, probabilities, sections)
        else:
            output["data"] = probabilities.ravel().tolist()
        outputs.append(output)
    return outputs, sections
