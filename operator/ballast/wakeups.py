"""Which reconciles an event calls for, as pure functions of the objects involved.

A Ballast object is reconciled when its spec or annotations change (not its status: that is
what a reconcile writes, and reacting to it would loop), when one of its children changes
(a Job ends, a pod cannot start, a Deployment's replicas become ready), when something it
reads changes (a Dataset's new version for the runs that wait on it, a sibling's stage for the
other versions of a model, the Production version for the model's drift policies), and at the
time its last reconcile asked for (Outcome.wake_at, kept by ballast.handlers.runner). Nothing
else wakes it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from ballast.build.naming import (
    COMPONENT_LABEL,
    INGEST_COMPONENT,
    INSTANCE_LABEL,
    SERVING_COMPONENT,
    TRAINING_COMPONENT,
)
from ballast.build.retrain import POLICY_LABEL
from ballast.build.serving import VERSION_LABEL


class ObjectKey(NamedTuple):
    kind: str
    namespace: str
    name: str


def key_of(kind: str, metadata: Mapping[str, Any]) -> ObjectKey:
    return ObjectKey(kind, metadata["namespace"], metadata["name"])


def own_fingerprint(metadata: Mapping[str, Any]) -> tuple[int | None, tuple[tuple[str, str], ...], str | None]:
    """What a change of calls for the object's own reconcile: its spec (the generation counts
    every spec change), its annotations (a rollback request) and the start of its deletion."""
    annotations = tuple(sorted((metadata.get("annotations") or {}).items()))
    return (metadata.get("generation"), annotations, metadata.get("deletionTimestamp"))


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def read_by_others(kind: str, body: Mapping[str, Any]) -> str:
    """A digest of what other objects' reconciles read of this one: when it changes, they are
    woken (see dependents). A ModelVersion's siblings and drift policies read its stage, its
    times of promotion and supersession, its ready replicas and its metrics; the runs and
    policies that name a Dataset, and the policy that started a TrainingRun, read its status."""
    status = {field: value for field, value in (body.get("status") or {}).items() if field != "kopf"}
    if kind == "ModelVersion":
        status = {
            field: status.get(field) for field in ("stage", "promotedAt", "supersededAt", "readyReplicas", "metrics")
        }
    return _digest([body.get("spec"), status])


def owners_of_child(
    labels: Mapping[str, str], owner_references: Iterable[Mapping[str, Any]], namespace: str
) -> list[ObjectKey]:
    """The Ballast objects a child's change concerns: the Dataset of an ingest Job and its pods,
    the TrainingRun of a training Job and its pods, the ModelVersion of a serving Deployment,
    its ReplicaSets and pods, and every ModelVersion a model's shared Service names as owner."""
    component = labels.get(COMPONENT_LABEL)
    if component == INGEST_COMPONENT and labels.get(INSTANCE_LABEL):
        return [ObjectKey("Dataset", namespace, labels[INSTANCE_LABEL])]
    if component == TRAINING_COMPONENT and labels.get(INSTANCE_LABEL):
        return [ObjectKey("TrainingRun", namespace, labels[INSTANCE_LABEL])]
    if component != SERVING_COMPONENT:
        return []
    if labels.get(VERSION_LABEL):
        return [ObjectKey("ModelVersion", namespace, labels[VERSION_LABEL])]
    return [
        ObjectKey("ModelVersion", namespace, reference["name"])
        for reference in owner_references
        if reference.get("kind") == "ModelVersion" and reference.get("name")
    ]


def policy_of_run(labels: Mapping[str, str], namespace: str) -> list[ObjectKey]:
    """The DriftPolicy that started a TrainingRun, which follows the run to its end."""
    policy = labels.get(POLICY_LABEL)
    return [ObjectKey("DriftPolicy", namespace, policy)] if policy else []
