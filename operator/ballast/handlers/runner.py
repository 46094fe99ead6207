"""Runs the queued reconciles (ballast.handlers.triggers queues them): a few worker threads,
each taking one object at a time, reconciling it and carrying out the Outcome; then the object
sleeps until an event or its Outcome.wake_at.

A reconcile starts from the body of the watch event that queued it when that body is newer
than the operator's own last write to the object (ballast.latest_bodies); otherwise (a child's
event, a wake-up, a body from before the last write) it reads the object as the API server has
it now. Either way no reconcile decides on a status it has already changed (which would post
the same Event twice), and the queue never hands one object to two workers at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import kopf

from ballast import kube
from ballast.api.kinds import ALL_KINDS, plural_of
from ballast.handlers import dataset, driftpolicy, modelversion, trainingrun
from ballast.handlers.apply import StatusWritten, apply_outcome
from ballast.handlers.context import current_settings
from ballast.handlers.instrumented import instrumented
from ballast.index_readiness import IndexReadiness
from ballast.latest_bodies import LatestBodies
from ballast.reconcile.outcome import Outcome
from ballast.wakeups import ObjectKey
from ballast.workqueue import WorkQueue

log = logging.getLogger(__name__)

Reconciler = Callable[..., Outcome]
RECONCILERS: Mapping[str, Reconciler] = {
    "Dataset": dataset.reconcile,
    "TrainingRun": trainingrun.reconcile,
    "ModelVersion": modelversion.reconcile,
    "DriftPolicy": driftpolicy.reconcile,
}
FORGET: Mapping[str, Callable[[ObjectKey], None]] = {"DriftPolicy": driftpolicy.forget}
"""What a kind keeps in memory per object, dropped when the object is gone."""

SHORTEST_WAKE_SECONDS = 0.5
"""A wake-up asked for in the past runs half a second later: a reconcile that keeps asking
for the moment it already acted on cannot spin."""


REMEMBERING = frozenset({"ModelVersion", "DriftPolicy"})
"""The kinds whose reconciler keeps something between reconciles in its memo."""


def reconcile_and_apply(
    body: kopf.Body,
    *,
    memo: dict[str, Any],
    indices: Mapping[str, kopf.Index],
    reporter: str,
    status_written: StatusWritten,
) -> Outcome:
    outcome = RECONCILERS[body["kind"]](body, memo=memo, **indices)
    apply_outcome(body, outcome, current_settings(), reporter=reporter, status_written=status_written)
    return outcome


TIMED = {info.kind: instrumented(info)(reconcile_and_apply) for info in ALL_KINDS}
"""Each kind's reconcile, timed and its errors counted under its own kind."""


LEGACY_FINALIZER = "ballast.dev/finalizer"
"""Put on every object with a timer by Ballast's kopf timers, before reconciles were queued."""


def _without_kopf_leftovers(plural: str, raw: dict[str, Any]) -> dict[str, Any]:
    """An object an older Ballast handled carries kopf's finalizer and its bookkeeping in
    status.kopf: both are taken off once, so the object can be deleted without kopf and holds
    its spec once (a large inline Dataset held twice could exceed etcd's request limit)."""
    metadata = raw["metadata"]
    if LEGACY_FINALIZER in (metadata.get("finalizers") or []):
        kept = [finalizer for finalizer in metadata["finalizers"] if finalizer != LEGACY_FINALIZER]
        raw = kube.set_finalizers(plural, metadata["namespace"], metadata["name"], kept, metadata["resourceVersion"])
    if raw is not None and "kopf" in (raw.get("status") or {}):
        kube.patch_status(plural, raw["metadata"]["namespace"], raw["metadata"]["name"], {"kopf": None})
        raw = {**raw, "status": {field: value for field, value in raw["status"].items() if field != "kopf"}}
    return raw


INDEX_POLL_SECONDS = 0.5
"""How often a worker waiting for the first complete index looks whether it should stop."""

FIRST_RETRY_SECONDS = 1.0
LAST_RETRY_SECONDS = 60.0


def retry_delay(failures: int) -> float:
    """1 s after the first failure, doubling up to a minute: a broken object does not spin,
    and one that a transient error hit is back at once."""
    return min(LAST_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** max(0, failures - 1))


def seconds_until(moment: datetime) -> float:
    return (moment - datetime.now(UTC)).total_seconds()


class Runner:
    def __init__(
        self,
        queue: WorkQueue[ObjectKey],
        indices: Mapping[str, kopf.Index],
        *,
        reporter: str,
        bodies: LatestBodies[ObjectKey] | None = None,
        readiness: IndexReadiness | None = None,
    ) -> None:
        """readiness: when given, nothing is reconciled before kopf's indexes are first complete
        (ballast.index_readiness)."""
        self._queue = queue
        self._readiness = readiness
        self._bodies: LatestBodies[ObjectKey] = bodies if bodies is not None else LatestBodies()
        self._indices = dict(indices)
        self._reporter = reporter
        self._failures: dict[ObjectKey, int] = {}
        self._memos: dict[ObjectKey, dict[str, Any]] = {}
        self._threads: list[threading.Thread] = []

    def start(self, workers: int) -> None:
        for number in range(workers):
            thread = threading.Thread(target=self._work, name=f"reconcile-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float) -> None:
        self._queue.close()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _wait_until_indexed(self) -> bool:
        """False when the queue closed first."""
        while self._readiness is not None and not self._readiness.wait(INDEX_POLL_SECONDS):
            if self._queue.closed:
                return False
        return True

    def _work(self) -> None:
        if not self._wait_until_indexed():
            return
        while (key := self._queue.take()) is not None:
            try:
                wake_at = self._reconcile(key)
            except Exception:  # counted as result="error" by ballast.handlers.instrumented
                failures = self._failures.get(key, 0) + 1
                self._failures[key] = failures
                log.exception("reconciling %s %s/%s failed (%d in a row)", *key, failures)
                self._queue.add(key, after=retry_delay(failures))
            else:
                self._failures.pop(key, None)
                if wake_at is not None:
                    self._queue.add(key, after=max(SHORTEST_WAKE_SECONDS, seconds_until(wake_at)))
            finally:
                self._queue.done(key)

    def _reconcile(self, key: ObjectKey) -> datetime | None:
        plural = plural_of(key.kind)
        # take() decodes a fresh dict of its own: nothing else holds it
        raw = self._bodies.take(key) or kube.read_custom_object(plural, key.namespace, key.name)
        if raw is not None:
            cleaned = _without_kopf_leftovers(plural, raw)
            if cleaned is not raw:
                self._bodies.wrote(key, None)
            raw = cleaned
        if raw is None or raw.get("metadata", {}).get("deletionTimestamp"):
            self._forget(key)
            return None
        outcome = TIMED[key.kind](
            kopf.Body(raw),
            memo=self._memos.setdefault(key, {}) if key.kind in REMEMBERING else {},
            indices=self._indices,
            reporter=self._reporter,
            status_written=self._status_written,
        )
        return outcome.wake_at

    def _status_written(self, kind: str, namespace: str, name: str, resource_version: str | None) -> None:
        self._bodies.wrote(ObjectKey(kind, namespace, name), resource_version)

    def _forget(self, key: ObjectKey) -> None:
        self._failures.pop(key, None)
        self._memos.pop(key, None)
        self._bodies.forget(key)
        forget = FORGET.get(key.kind)
        if forget is not None:
            forget(key)
