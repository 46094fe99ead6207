"""Status conditions as the Kubernetes API conventions describe them, as pure functions."""

from __future__ import annotations

from dataclasses import dataclass
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
    """True while work toward the spec is under way (kstatus reads it as InProgress)."""
    STALLED = "Stalled"
    """True once the object failed in a way that waiting will not fix (kstatus reads it as Failed)."""
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


class Progress(StrEnum):
    """Where an object stands in the terms kstatus (sigs.k8s.io/cli-utils, used by Flux, kpt and
    Config Sync) and Argo CD's health share: each kind decides it (ballast.reconcile.progress)
    and set_progress writes it as the Reconciling and Stalled conditions."""

    WORKING = "Working"
    """Reconciling True: kstatus InProgress, Argo CD Progressing."""
    DONE = "Done"
    """Neither: kstatus Current (with Ready True), Argo CD Healthy."""
    FAILED = "Failed"
    """Stalled True: kstatus Failed, Argo CD Degraded."""


@dataclass(frozen=True)
class Standing:
    """An object's Progress, with the reason and message both conditions carry."""

    progress: Progress
    reason: str
    message: str = ""


def set_progress(
    conditions: list[dict[str, Any]] | None, standing: Standing, *, observed_generation: int | None, now: str
) -> list[dict[str, Any]]:
    """The conditions with Reconciling and Stalled set from standing: never both True, since
    kstatus takes whichever of the two it meets first. The False one keeps the reason (why it is
    not stalled: Training, say) without the message, which Ready and the True one already say."""
    for type, progress in ((ConditionType.RECONCILING, Progress.WORKING), (ConditionType.STALLED, Progress.FAILED)):
        holds = standing.progress is progress
        conditions = set_condition(
            conditions,
            type=type,
            status="True" if holds else "False",
            reason=str(standing.reason),
            message=standing.message if holds else "",
            observed_generation=observed_generation,
            now=now,
        )
    return conditions or []
