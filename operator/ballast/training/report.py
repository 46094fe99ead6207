"""What a training run reports: the full metadata.json and the compact termination message.

Both are plain JSON documents built from a TrainingOutcome; the runtime only writes them.
The termination message must fit Kubernetes' 4096-byte limit, so `fit_termination_message`
drops detail in a fixed order (params first: the full record is in metadata.json) until it fits.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ballast.models.skops_format import ARTIFACT_FORMAT
from ballast.reasons.trainingrun import TrainingRunReason
from ballast.training.fairness import FAIRNESS_METRICS
from ballast.training.run import DatasetIdentity, TrainingOutcome

TERMINATION_MESSAGE_LIMIT = 4096
# The Reproducibility fields of TrainingRun status (ballast.api.trainingrun.Reproducibility).
STATUS_REPRODUCIBILITY_FIELDS = (
    "image",
    "imageDigest",
    "pythonVersion",
    "packages",
    "seed",
    "datasetSha256",
    "codeVersion",
    "blockwise",
)


def _gate_dicts(outcome: TrainingOutcome) -> list[dict[str, Any]]:
    return [gate.to_wire() for gate in outcome.gates]


def gate_failure_message(outcome: TrainingOutcome) -> str:
    return "; ".join(f"gate {gate.name} failed: {gate.message}" for gate in outcome.failed_gates)


def key_metric(outcome: TrainingOutcome) -> dict[str, Any] | None:
    value = outcome.key_metric_value
    return None if value is None else {"name": outcome.key_metric, "value": value}


def artifact_metadata(
    outcome: TrainingOutcome,
    *,
    model: str,
    artifact_uri: str,
    dataset: DatasetIdentity,
    training_run: Mapping[str, Any] | None,
    champion: Mapping[str, Any] | None,
    dataset_profile: Mapping[str, Any] | None = None,
    intended_use: str | None = None,
    limitations: str | None = None,
) -> dict[str, Any]:
    """metadata.json beside model.skops: lineage, reproducibility, metrics and gates, and what
    the model card is built from (ballast.cards): the profile summary (data.profile_summary),
    the fitted preprocessing, the fairness measurement, intended use and limitations."""
    return {
        "model": model,
        "artifact": {
            "uri": artifact_uri,
            "sha256": outcome.artifact.sha256,
            "format": ARTIFACT_FORMAT,
            "sizeBytes": len(outcome.artifact.data),
        },
        "lineage": {
            "trainingRun": dict(training_run) if training_run else None,
            "dataset": {"name": dataset.name, "sha256": dataset.sha256, "snapshotUri": dataset.snapshot_uri},
            "champion": dict(champion) if champion else None,
            # Declared with the run and fitted into the artifact: the same steps give the same sha256.
            "featureSteps": outcome.feature_steps,
        },
        "estimator": outcome.reproducibility["estimator"],
        "task": outcome.task,
        "features": {
            "numeric": list(outcome.columns.numeric),
            "categorical": list(outcome.columns.categorical),
            "target": outcome.columns.target,
        },
        "classes": outcome.classes,
        "metrics": outcome.metrics,
        "skippedMetrics": outcome.skipped_metrics,
        "keyMetric": key_metric(outcome),
        "gates": _gate_dicts(outcome),
        "passed": outcome.passed,
        "params": outcome.params,
        "reproducibility": outcome.reproducibility,
        "rows": {"train": outcome.train_rows, "test": outcome.test_rows, "droppedWithoutTarget": outcome.dropped_rows},
        "fitSeconds": round(outcome.fit_seconds, 6),
        "warnings": outcome.warnings,
        "datasetProfile": dict(dataset_profile) if dataset_profile else None,
        "featurePipeline": outcome.preprocessing,
        "fairness": _fairness(outcome),
        "errorRates": outcome.error_rates or None,
        "intendedUse": intended_use,
        "limitations": limitations,
    }


def _fairness(outcome: TrainingOutcome) -> dict[str, Any] | None:
    if outcome.sensitive_feature is None:
        return None
    return {
        "sensitiveFeature": outcome.sensitive_feature,
        "metrics": {name: outcome.metrics[name] for name in FAIRNESS_METRICS if name in outcome.metrics},
        "unavailable": outcome.fairness_unavailable,
    }


def training_result(outcome: TrainingOutcome, *, artifact_uri: str, metadata_uri: str) -> dict[str, Any]:
    """The termination message of a finished run, passed or not (before size fitting)."""
    result: dict[str, Any] = {
        "artifact": {"uri": artifact_uri, "sha256": outcome.artifact.sha256, "format": ARTIFACT_FORMAT},
        "metadataUri": metadata_uri,
        "metrics": outcome.metrics,
        "keyMetric": key_metric(outcome),
        "gates": _gate_dicts(outcome),
        "passed": outcome.passed,
        "params": outcome.params,
        "reproducibility": {k: outcome.reproducibility.get(k) for k in STATUS_REPRODUCIBILITY_FIELDS},
    }
    if not outcome.passed:
        result["reason"] = TrainingRunReason.GATE_FAILED.value
        result["message"] = gate_failure_message(outcome)
    return result


def failure_result(reason: str, message: str) -> dict[str, Any]:
    return {"passed": False, "reason": reason, "message": message}


def _encoded(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":"), allow_nan=False, ensure_ascii=False).encode()


def _shorten(text: str, limit: int) -> str:
    """Head and tail of `text`: the start says what failed, the end is often the actual error."""
    if len(text) <= limit:
        return text
    half = (limit - 5) // 2
    return f"{text[:half]} ... {text[-half:]}"


def fit_termination_message(result: Mapping[str, Any], limit: int = TERMINATION_MESSAGE_LIMIT) -> bytes:
    """`result` as compact JSON of at most `limit` bytes, dropping detail in order of least use."""
    document = dict(result)
    steps = [
        lambda d: d.update(params={}, truncated=[*d.get("truncated", []), "params"]) if d.get("params") else None,
        lambda d: d.update(gates=[{**g, "message": _shorten(g.get("message", ""), 120)} for g in d.get("gates", [])]),
        lambda d: d.update(message=_shorten(d.get("message", ""), 600)) if "message" in d else None,
        lambda d: d.pop("reproducibility", None) and d.update(truncated=[*d.get("truncated", []), "reproducibility"]),
        lambda d: d.update(gates=[{**g, "message": ""} for g in d.get("gates", [])]),
        lambda d: d.update(message=_shorten(d.get("message", ""), 200)) if "message" in d else None,
    ]
    encoded = _encoded(document)
    for step in steps:
        if len(encoded) <= limit:
            return encoded
        step(document)
        encoded = _encoded(document)
    if len(encoded) <= limit:
        return encoded
    # Still too long (a pathological number of gates): the verdict and where to read the rest.
    minimal = {
        key: document[key] for key in ("artifact", "metadataUri", "keyMetric", "passed", "reason") if key in document
    }
    minimal["message"] = "result too large for the termination message; see metadataUri"
    return _encoded(minimal)
