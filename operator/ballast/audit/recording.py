"""The operator's side of the audit trail: the decisions of a reconcile, appended to their logs."""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable
from typing import Any

from ballast.audit.decisions import decisions
from ballast.audit.log import append
from ballast.conditions import now_rfc3339
from ballast.metrics import AUDIT_APPEND_FAILURES
from ballast.reasons import AUDIT_UNAVAILABLE
from ballast.reconcile.outcome import Event
from ballast.store import ArtifactStore, StoreError

logger = logging.getLogger(__name__)


@functools.cache
def audit_store(store_uri: str) -> ArtifactStore:
    """The whole store (the logs are outside every namespace's part), credentials from the environment."""
    return ArtifactStore(store_uri)


def record_decisions(
    store_uri: str, body: dict[str, Any], events: Iterable[Event], desired_status: dict
) -> list[Event]:
    """Appends each Event's decision, before the status that records it is written. A store that
    refuses the append (full, read-only, unreachable) does not hold the reconcile back: the
    status must still say that the store is broken. The decision goes on unrecorded in the
    trail, and the Warning Events returned (one per refused append) say so."""
    store = audit_store(store_uri)
    refused = []
    for decision in decisions(body, events, desired_status, now_rfc3339()):
        try:
            append(store, decision)
        except StoreError as error:
            namespace = decision.draft.namespace
            AUDIT_APPEND_FAILURES.labels(namespace).inc()
            logger.warning("audit trail %s: %s not recorded: %s", decision.log_key, decision.draft.reason, error)
            message = f"{decision.draft.reason} is not in the audit trail: {error}"
            refused.append(Event("Warning", AUDIT_UNAVAILABLE, message))
    return refused
