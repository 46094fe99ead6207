"""What a reconcile decided: the status to write, the Events to post, the children to touch."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Event:
    type: str  # Normal or Warning
    reason: str
    message: str


@dataclass(frozen=True)
class StatusPatch:
    """A JSON patch of another Ballast object's status. Its `test` operations make it a
    compare-and-set: an object that moved on meanwhile is left as it is."""

    plural: str
    namespace: str
    name: str
    operations: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class EngineKind:
    """A kind of another operator's API that Ballast creates objects of (a DaskJob), which the
    cluster may not serve at all; `missing` is the reason and message a run fails with then."""

    group: str
    version: str
    plural: str
    missing: tuple[str, str]


@dataclass
class Outcome:
    status: dict[str, Any] = field(default_factory=dict)
    """Status fields to set (a merge patch of .status)."""
    events: list[Event] = field(default_factory=list)
    create_jobs: list[dict[str, Any]] = field(default_factory=list)
    delete_jobs: list[str] = field(default_factory=list)
    create_objects: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """(plural, manifest) of Ballast objects to create if absent."""
    create_engine_objects: list[tuple[EngineKind, dict[str, Any]]] = field(default_factory=list)
    """(kind, manifest) of another operator's objects to create if absent."""
    delete_engine_objects: list[tuple[EngineKind, str]] = field(default_factory=list)
    """(kind, name) of another operator's objects to delete, with what they own."""
    apply_manifests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """(field manager, manifest) of children kept as declared by server-side apply, which
    also puts back whatever drifted in the fields Ballast sets."""
    delete_autoscalers: list[str] = field(default_factory=list)
    """Names of HorizontalPodAutoscalers to remove (autoscaling switched off, or the version left
    Production): removed before the manifests are applied, so none scales a Deployment back up."""
    patch_statuses: list[StatusPatch] = field(default_factory=list)
    """Status changes of related objects that must be visible before this object's own (a
    sibling leaves Production before this one enters it): written after the children, before
    the object's own status."""
    log_to_tracker: bool = False
    """A finished TrainingRun to hand, as read, to the tracking server's logger (ballast.tracking):
    logged off the reconcile's path, which hears back through the Tracked condition."""
    wake_at: datetime | None = None
    """When the object must be reconciled again although nothing it watches changes (a canary's
    analysis is due, a grace period or a cooldown ends, a drift evaluation is due); None when
    only an event (its own, a child's, a sibling's) can change what it decides."""

    def event(self, type: str, reason: str, message: str) -> None:
        self.events.append(Event(type, reason, message))


def waking_by(outcome: Outcome, moment: datetime | None) -> Outcome:
    """The outcome, reconciled again by moment at the latest."""
    if moment is None or (outcome.wake_at is not None and outcome.wake_at <= moment):
        return outcome
    return replace(outcome, wake_at=moment)
