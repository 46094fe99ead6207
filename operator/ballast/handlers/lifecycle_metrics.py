"""Counting what ended in a reconcile: a TrainingRun that finished, a ModelVersion promoted or
rolled back. Counted from the status change itself, so each transition is counted once."""

from __future__ import annotations

from ballast.conditions import ConditionType, find_condition
from ballast.metrics import ROLLOUTS, TRAINING_RUNS


def lifecycle_results(kind: str, current: dict, desired: dict) -> list[tuple[str, str]]:
    """(counter, result) pairs for the transitions from `current` status to `desired`."""
    if kind == "TrainingRun":
        before = (find_condition(current.get("conditions"), ConditionType.SUCCEEDED) or {}).get("status")
        after = (find_condition(desired.get("conditions"), ConditionType.SUCCEEDED) or {}).get("status")
        if after in ("True", "False") and before != after:
            return [("training_runs", "succeeded" if after == "True" else "failed")]
    if kind == "ModelVersion":
        stage = desired.get("stage")
        if stage != current.get("stage") and stage in ("Production", "RolledBack"):
            return [("rollouts", "promoted" if stage == "Production" else "rolledBack")]
    return []


def count_lifecycle(kind: str, namespace: str, model: str, current: dict, desired: dict) -> None:
    counters = {"training_runs": TRAINING_RUNS, "rollouts": ROLLOUTS}
    for counter, result in lifecycle_results(kind, current, desired):
        counters[counter].labels(namespace, model, result).inc()
