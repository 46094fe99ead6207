"""The operator's side of the audit trail: the decisions of a reconcile, appended to their logs."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from ballast.audit.decisions import decisions
from ballast.audit.log import append
from ballast.conditions import now_rfc3339
from ballast.reconcile.outcome import Event
from ballast.store import ArtifactStore


@functools.cache
def audit_store(store_uri: str) -> ArtifactStore:
    """The whole store (the logs are outside every namespace's part), credentials from the environment."""
    return ArtifactStore(store_uri)


def record_decisions(store_uri: str, body: dict[str, Any], events: Iterable[Event], desired_status: dict) -> None:
    """Appends each Event's decision before anything records it; a store failure propagates, so
    the status is not written and the reconcile is retried (taking the same decisions again)."""
    store = audit_store(store_uri)
    for decision in decisions(body, events, desired_status, now_rfc3339()):
        append(store, decision)
