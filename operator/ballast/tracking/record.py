"""What a finished TrainingRun looks like in an experiment tracker: a pure mapping from the run's
status (params as fitted, metrics, gates, lineage) to MLflow's params, metrics and tags.

Nothing here talks to a server (ballast.tracking.mlflow_log does), so what a team sees in MLflow
is decided, and tested, without one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ballast.api.trainingrun import TrainingRunSpec, TrainingRunStatus
from ballast.conditions import ConditionType
from ballast.reconcile.typed import condition_of, parse_object

# MLflow's own limits (mlflow.utils.validation): a longer value is refused by the server, so
# values are cut here and say so.
MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
CUT_MARK = "…"
KEY_REFUSED = re.compile(r"[^A-Za-z0-9_\-. :/]")

TAG_PREFIX = "ballast."
RUN_UID_TAG = "ballast.trainingRun.uid"
"""The TrainingRun's uid: how a retry (or a restarted operator) finds the MLflow run it already made."""
COMPLETE_TAG = "ballast.tracked"
"""Set last, once everything else is logged: a run found without it is logged again."""
COMPLETE = "complete"
DATASET_SHA256_TAG = "ballast.dataset.sha256"
MODEL_VERSION_TAG = "ballast.modelVersion"
GATE_TAG_PREFIX = "ballast.gate."
CARD_ARTIFACTS = {"markdown": "model_card.md", "json": "model_card.json"}
"""Where the model card's files go among the MLflow run's artifacts."""

FINISHED = "FINISHED"
FAILED = "FAILED"


@dataclass(frozen=True)
class TrackedRun:
    """One TrainingRun, as the MLflow run that mirrors it."""

    uid: str
    run_name: str
    experiment: str
    status: str
    """MLflow's run status: FINISHED when the run succeeded, FAILED otherwise (a gate, the pod)."""
    start_ms: int | None
    end_ms: int | None
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


def default_experiment(namespace: str, model: str) -> str:
    """One experiment per model, where a team looks for its runs side by side."""
    return f"ballast/{namespace}/{model}"


def tracked_run(body: Mapping[str, Any], experiment: str | None = None) -> TrackedRun:
    """The MLflow run for a finished TrainingRun (metadata, spec, status as the API returns them).
    `experiment` is the administrator's one experiment; without it, default_experiment."""
    metadata = body["metadata"]
    run = parse_object(dict(body), TrainingRunSpec, TrainingRunStatus)
    spec, status = run.spec, run.status
    succeeded = condition_of(status, ConditionType.SUCCEEDED)
    passed = succeeded is not None and succeeded.status == "True"
    tags = {
        RUN_UID_TAG: metadata["uid"],
        "ballast.trainingRun": metadata["name"],
        "ballast.namespace": metadata["namespace"],
        "ballast.model": spec.model,
        "ballast.estimator": spec.estimator,
        "ballast.dataset": spec.dataset_ref.name,
        "ballast.outcome": succeeded.reason if succeeded else "Unknown",
        "ballast.outcome.message": succeeded.message if succeeded else "",
        **_lineage_tags(status),
        **_gate_tags(status),
    }
    return TrackedRun(
        uid=metadata["uid"],
        run_name=metadata["name"],
        experiment=experiment or default_experiment(metadata["namespace"], spec.model),
        status=FINISHED if passed else FAILED,
        start_ms=_millis(status.started_at),
        end_ms=_millis(status.completed_at),
        params=dict(_params(status.params or {})),
        metrics={_key(name): float(value) for name, value in sorted((status.metrics or {}).items())},
        tags={_key(key): _cut(value, MAX_TAG_VALUE_LENGTH) for key, value in tags.items() if value},
    )


def _lineage_tags(status: TrainingRunStatus) -> dict[str, str]:
    """Which data and which registry entry: what joins an MLflow run back to Ballast's lineage."""
    tags = {
        DATASET_SHA256_TAG: status.dataset_version or "",
        MODEL_VERSION_TAG: status.model_version or "",
        "ballast.champion": status.champion or "",
    }
    if status.artifact is not None:
        tags["ballast.artifact.uri"] = status.artifact.uri
        tags["ballast.artifact.sha256"] = status.artifact.sha256
    reproducibility = status.reproducibility
    if reproducibility is not None:
        tags["ballast.image"] = reproducibility.image_digest or reproducibility.image or ""
        tags["ballast.codeVersion"] = reproducibility.code_version or ""
    return tags


def _gate_tags(status: TrainingRunStatus) -> dict[str, str]:
    """Each gate as `ballast.gate.<name>`: "passed" or "failed", then the measured value in words."""
    gates = status.gates or []
    tags = {
        GATE_TAG_PREFIX + gate.name: ("passed" if gate.passed else "failed")
        + (f": {gate.message}" if gate.message else "")
        for gate in gates
    }
    if gates:
        tags["ballast.gates"] = "passed" if all(gate.passed for gate in gates) else "failed"
    return tags


def _params(params: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """The estimator's parameters as fitted, nested ones flattened with dots (a pipeline step's
    `clf.C`), each value as MLflow shows a parameter: text, JSON for lists and mappings."""
    for name, value in sorted(params.items()):
        key = f"{prefix}{name}"
        if isinstance(value, Mapping) and value:
            yield from _params(value, prefix=f"{key}.")
        else:
            yield _key(key), _cut(_param_text(value), MAX_PARAM_VALUE_LENGTH)


def _param_text(value: Any) -> str:
    # str() for scalars, as mlflow.sklearn's autologging writes them (None, True, 0.1), so
    # Ballast's runs compare with a team's autologged ones column by column
    if isinstance(value, (list, tuple, Mapping)):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def _key(key: str) -> str:
    # MLflow refuses a key with any other character; a Ballast name never has one, a param's may
    return _cut(KEY_REFUSED.sub("_", key), MAX_KEY_LENGTH)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - len(CUT_MARK)] + CUT_MARK


def _millis(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)
