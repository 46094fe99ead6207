"""Logs finished TrainingRuns to the tracking server on a thread of its own, off the reconcile's
path: a reconcile hands a run over (submit) and returns at once; when the attempt ends, the run
is queued for a reconcile again, which reads the outcome (state) into the Tracked condition.

One thread, one run at a time: a tracking server that answers slowly holds up only other runs'
tracking, never a reconcile. What it remembers is bounded (the newest MAX_REMEMBERED runs);
a run it has forgotten, or that an operator restart lost, is simply handed over again, and the
logger finds the MLflow run it already made (ballast.tracking.mlflow_log).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ballast.reasons.trainingrun import TrackingReason
from ballast.tracking.state import TrackingAttempt, TrackingState
from ballast.wakeups import ObjectKey

log = logging.getLogger(__name__)

MAX_REMEMBERED = 10_000

Attempt = Callable[[dict[str, Any]], TrackingAttempt]
"""Logs one run (its body as the API server has it) and says how it went; never raises."""


def _now() -> datetime:
    return datetime.now(UTC)


class Tracker:
    def __init__(self, attempt: Attempt, wake: Callable[[ObjectKey], None]) -> None:
        self._attempt = attempt
        self._wake = wake
        self._states: OrderedDict[str, TrackingState] = OrderedDict()
        self._lock = threading.Lock()
        self._queue: queue.Queue[tuple[ObjectKey, dict[str, Any]]] = queue.Queue()
        self._thread: threading.Thread | None = None

    def state(self, uid: str) -> TrackingState | None:
        with self._lock:
            return self._states.get(uid)

    def submit(self, key: ObjectKey, body: dict[str, Any]) -> None:
        """Queues the run, unless it is queued or being logged already."""
        uid = body["metadata"]["uid"]
        with self._lock:
            known = self._states.get(uid)
            if known is not None and known.pending:
                return
            self._remember(uid, TrackingState(pending=True, last=known.last if known else None))
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="tracking", daemon=True)
                self._thread.start()
        self._queue.put((key, body))

    def _work(self) -> None:
        while True:
            key, body = self._queue.get()
            uid = body["metadata"]["uid"]
            try:
                outcome = self._attempt(body)
            except Exception as error:  # the attempt says what failed; this is a last resort
                log.warning("tracking %s/%s failed unexpectedly: %r", key.namespace, key.name, error)
                outcome = TrackingAttempt(TrackingReason.TRACKING_REFUSED, f"unexpected: {error!r}", _now())
            with self._lock:
                self._remember(uid, TrackingState(pending=False, last=outcome))
            self._wake(key)

    def _remember(self, uid: str, state: TrackingState) -> None:
        self._states[uid] = state
        self._states.move_to_end(uid)
        while len(self._states) > MAX_REMEMBERED:
            self._states.popitem(last=False)
