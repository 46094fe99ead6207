"""Status conditions as the Kubernetes API conventions describe them, as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

ConditionStatus = Literal["True", "False", "Unknown"]


class ConditionType(StrEnum):
    """The condition types more than one reconcile, handler or command reads; a kind's own
    (ArtifactVerified, ServiceConflict) are with its reasons in ballast.reasons."""

    READY = "Ready"
    """The summary every kind carries (kstatus and Argo CD read it)."""
    SUCCEEDED = "Succeeded"
    """A TrainingRun's end: True once trained and registered, False once failed for good."""
    RECONCILING = "Reconciling"
    """A Dataset's ingest is under way."""
    DRIFTING = "Drifting"
    """A DriftPolicy's verdict on its last window."""
    RETRAINING = "Retraining"
    """Where a DriftPolicy's last retraining stands."""


def rfc3339(moment: datetime) -> str:
    """A time as the API server writes it (second precision, UTC, Z suffix)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def at_second(moment: datetime) -> datetime:
    """A time as the API server keeps it (UTC, second precision): a typed status field holding
    it is written exactly as rfc3339 writes the time, so an unchanged status compares equal."""
    return moment.astimezone(UTC).replace(microsecond=0)


def now_rfc3339() -> str:
    return rfc3339(datetime.now(UTC))


def set_condition(
    conditions: list[dict[str, Any]] | None,
    *,
    type: str,
    status: ConditionStatus,
    reason: str,
    message: str,
    observed_generation: int | None,
    now: str,
) -> list[dict[str, Any]]:
    """A new conditions list with one condition set; the others keep their place.

    lastTransitionTime changes only when the status flips, so a person can tell how long
    an object has been in its state, however often it is reconciled.
    """
    existing = {c.get("type"): c for c in conditions or []}
    previous = existing.get(type)
    transition = previous["lastTransitionTime"] if previous and previous.get("status") == status else now
    updated = {
        "type": type,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": transition,
    }
    if observed_generation is not None:
        updated["observedGeneration"] = observed_generation
    if previous is None:
        return [*(conditions or []), updated]
    return [updated if c.get("type") == type else c for c in conditions or []]


def find_condition(conditions: list[dict[str, Any]] | None, type: str) -> dict[str, Any] | None:
    return next((c for c in conditions or [] if c.get("type") == type), None)
