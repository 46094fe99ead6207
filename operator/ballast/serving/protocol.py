"""Open Inference Protocol documents the server answers with (pure functions of the signature).

Outputs of an infer response:
  predict        shape [n]; class labels (INT64, BOOL or BYTES, as the classes are) or FP64 values
  predict_proba  shape [n, classes]; FP64, classifiers only; `parameters.classes` names the columns
"""

from __future__ import annotations

from typing import Any

import ballast
from ballast.serving.signature import ModelSignature

PREDICT = "predict"
PREDICT_PROBA = "predict_proba"
PLATFORM = "sklearn"
EXTENSIONS = ("ballast-feedback", "prometheus-metrics")


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
            "task": signature.task,
            "classes": list(signature.classes),
            "features": list(signature.features),
            "sha256": signature.sha256,
            "dataset": {"name": signature.dataset_name, "sha256": signature.dataset_sha256},
            "predictor": predictor_kind,
            "inputLayouts": [
                "one 1-D tensor per feature, named after it",
                f"one 2-D tensor of shape [n, {len(signature.features)}] in the order of `features`",
            ],
        },
    }


def output_tensors(
    signature: ModelSignature, labels: list[Any], probabilities: Any, wanted: tuple[str, ...] | None
) -> list[dict[str, Any]]:
    outputs = []
    rows = len(labels)
    if wanted is None or PREDICT in wanted:
        outputs.append({"name": PREDICT, "datatype": label_datatype(signature), "shape": [rows], "data": labels})
    if signature.is_classifier and (wanted is None or PREDICT_PROBA in wanted):
        outputs.append(
            {
                "name": PREDICT_PROBA,
                "datatype": "FP64",
                "shape": [rows, len(signature.classes)],
                "parameters": {"classes": list(signature.classes)},
                "data": probabilities.ravel().tolist(),
            }
        )
    return outputs
