"""The watch events that queue reconciles (ballast.wakeups decides which): Ballast's own
kinds, and the children and objects they read. Every handler here only queues keys; the
reconciles run in ballast.handlers.runner, one at a time per object.

These are kopf's event handlers only, never its create, update, resume or delete handlers: so
kopf writes nothing to a Ballast object (no finalizer, no copy of the spec in status.kopf, no
handler progress), and the objects a user or Argo CD owns stay as they wrote them.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import kopf

from ballast.api.kinds import ALL_KINDS, GROUP, VERSION
from ballast.build.naming import COMPONENT_LABEL, SERVING_COMPONENT
from ballast.handlers.indexes import MANAGED
from ballast.latest_bodies import LatestBodies
from ballast.metrics import RECONCILE_QUEUE_SECONDS
from ballast.wakeups import ObjectKey, key_of, own_fingerprint, owners_of_child, policy_of_run, read_by_others
from ballast.workqueue import WorkQueue


def _observe_queue_wait(key: ObjectKey, seconds: float) -> None:
    RECONCILE_QUEUE_SECONDS.labels(key.kind).observe(seconds)


QUEUE: WorkQueue[ObjectKey] = WorkQueue(on_taken=_observe_queue_wait)
BODIES: LatestBodies[ObjectKey] = LatestBodies()
"""The body of each object's newest event while its reconcile is queued (ballast.latest_bodies)."""


class SeenObjects:
    """Per object, what its last event showed: its own fingerprint and the digest of what others
    read of it. A first event (a new object, or every object after a restart) counts as a change."""

    def __init__(self) -> None:
        self._seen: dict[ObjectKey, tuple[tuple, str]] = {}
        self._lock = threading.Lock()

    def observe(self, key: ObjectKey, own: tuple, read: str) -> tuple[bool, bool]:
        """(own changed, what others read changed)."""
        with self._lock:
            previous = self._seen.get(key)
            self._seen[key] = (own, read)
        if previous is None:
            return True, True
        return previous[0] != own, previous[1] != read

    def forget(self, key: ObjectKey) -> None:
        with self._lock:
            self._seen.pop(key, None)


SEEN = SeenObjects()


def dependents(key: ObjectKey, body: Mapping[str, Any], indices: Mapping[str, kopf.Index]) -> list[ObjectKey]:
    """The objects whose reconcile reads this one (see ballast.wakeups.read_by_others)."""
    namespace, spec = key.namespace, body.get("spec") or {}
    if key.kind == "Dataset":
        runs = indices["runs_by_dataset"].get((namespace, key.name), [])
        policies = indices["policies_by_dataset"].get((namespace, key.name), [])
        return [ObjectKey("TrainingRun", namespace, run) for run in runs] + [
            ObjectKey("DriftPolicy", namespace, policy) for policy in policies
        ]
    if key.kind == "TrainingRun":
        return policy_of_run(body.get("metadata", {}).get("labels") or {}, namespace)
    if key.kind == "ModelVersion":
        model = spec.get("model")
        siblings = indices["model_versions"].get((namespace, model), [])
        policies = indices["policies_by_model"].get((namespace, model), [])
        return [ObjectKey("ModelVersion", namespace, s.name) for s in siblings if s.name != key.name] + [
            ObjectKey("DriftPolicy", namespace, policy) for policy in policies
        ]
    return []


def own_event(kind: str, type: str | None, body: kopf.Body, indices: Mapping[str, kopf.Index]) -> None:
    key = key_of(kind, body.metadata)
    raw = {"metadata": dict(body.metadata), "spec": dict(body.spec), "status": dict(body.status)}
    if type == "DELETED":
        SEEN.forget(key)
        QUEUE.forget(key)
        BODIES.forget(key)
        for dependent in dependents(key, raw, indices):
            QUEUE.add(dependent)
        return
    own_changed, read_changed = SEEN.observe(key, own_fingerprint(raw["metadata"]), read_by_others(kind, raw))
    BODIES.observe(key, {"apiVersion": body.get("apiVersion"), "kind": kind, **raw}, queued=own_changed)
    if own_changed:
        QUEUE.add(key)
    if read_changed:
        for dependent in dependents(key, raw, indices):
            QUEUE.add(dependent)


def _register_own_kind(kind: str, plural: str) -> None:
    @kopf.on.event(GROUP, VERSION, plural, id=f"queue-{plural}")
    async def queue_reconcile(type: str | None, body: kopf.Body, **kwargs: Any) -> None:
        own_event(kind, type, body, _indices(kwargs))


for _info in ALL_KINDS:
    _register_own_kind(_info.kind, _info.plural)


def child_event(body: kopf.Body) -> None:
    for owner in owners_of_child(
        body.metadata.labels, body.metadata.get("ownerReferences") or [], body.metadata.namespace
    ):
        QUEUE.add(owner)


@kopf.on.event("batch", "v1", "jobs", labels=MANAGED)
async def job_changed(body: kopf.Body, **_: Any) -> None:
    child_event(body)


@kopf.on.event("", "v1", "pods", labels=MANAGED)
async def pod_changed(body: kopf.Body, **_: Any) -> None:
    child_event(body)


@kopf.on.event("apps", "v1", "deployments", labels=MANAGED)
async def deployment_changed(body: kopf.Body, **_: Any) -> None:
    child_event(body)


@kopf.on.event("apps", "v1", "replicasets", labels={**MANAGED, COMPONENT_LABEL: SERVING_COMPONENT})
async def replica_set_changed(body: kopf.Body, **_: Any) -> None:
    child_event(body)


@kopf.on.event("", "v1", "services", labels={**MANAGED, COMPONENT_LABEL: SERVING_COMPONENT})
async def service_changed(body: kopf.Body, **_: Any) -> None:
    child_event(body)


def _indices(kwargs: Mapping[str, Any]) -> Mapping[str, kopf.Index]:
    return {name: value for name, value in kwargs.items() if isinstance(value, kopf.Index)}
