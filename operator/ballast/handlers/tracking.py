"""The operator's one tracker (ballast.tracking.tracker), logging to the tracking server the
settings name; it wakes a run's reconcile through the reconcile queue when an attempt ends."""

from __future__ import annotations

import functools
import logging
from typing import Any

from ballast.handlers.context import SETTINGS, namespace_artifact_store
from ballast.handlers.triggers import QUEUE
from ballast.metrics import TRACKING_ATTEMPTS
from ballast.tracking.state import TrackingAttempt
from ballast.tracking.tracker import Tracker

log = logging.getLogger(__name__)


def _attempt(body: dict[str, Any]) -> TrackingAttempt:
    # imported here: the MLflow client is loaded only by an operator that has a tracking server
    from ballast.tracking.attempt import attempt_tracking

    assert SETTINGS.tracking_uri is not None  # a run is handed over only when one is configured
    namespace = body["metadata"]["namespace"]
    attempt = attempt_tracking(
        body,
        tracking_uri=SETTINGS.tracking_uri,
        experiment=SETTINGS.tracking_experiment,
        store=namespace_artifact_store(namespace),
    )
    TRACKING_ATTEMPTS.labels(namespace, str(attempt.reason)).inc()
    if not attempt.logged:
        log.warning("tracking %s/%s: %s: %s", namespace, body["metadata"]["name"], attempt.reason, attempt.message)
    return attempt


@functools.cache
def tracker() -> Tracker:
    return Tracker(_attempt, QUEUE.add)
