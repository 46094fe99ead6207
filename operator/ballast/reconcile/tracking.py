"""The Tracked condition of a finished TrainingRun, and when to (re)try logging it to the
tracking server: a pure step of the TrainingRun's reconcile over what the tracker reports.

Tracking never changes Ready, Succeeded or Stalled: a run trained and registered while the
tracking server is down has succeeded, and Tracked False says what is missing and why."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ballast.conditions import ConditionStatus, rfc3339, set_condition
from ballast.reasons.trainingrun import TRACKED, TrackingReason
from ballast.reconcile.outcome import Event
from ballast.tracking.state import TrackingAttempt, TrackingState


@dataclass(frozen=True)
class TrackingStep:
    conditions: list[dict[str, Any]]
    request: bool = False
    """Hand the run to the tracker now (its body as the API server has it)."""
    wake_at: datetime | None = None
    """When to look again: the next try after a failure."""
    event: Event | None = None
    """Posted when an attempt's outcome changes the condition: Logged, or why not."""


def tracking_step(
    conditions: list[dict[str, Any]],
    state: TrackingState | None,
    *,
    tracking_uri: str,
    retry_seconds: float,
    generation: int,
    now: datetime,
) -> TrackingStep:
    """For a finished run with a tracking server configured. Once Tracked is True nothing more
    happens; with no state (never asked, or asked by an operator that has since restarted) the run
    is handed over; a failed attempt is tried again retry_seconds after it ended."""
    current = next((c for c in conditions if c.get("type") == TRACKED), None)
    if current is not None and current.get("status") == "True":
        return TrackingStep(conditions)
    if state is None:
        if current is None:
            conditions = queued_for_tracking(conditions, tracking_uri, generation, now)
        return TrackingStep(conditions, request=True)
    if state.last is None:  # the first attempt is under way
        return TrackingStep(conditions)
    last = state.last
    event = _event_of(current, state.last)
    if last.logged:
        return TrackingStep(_set(conditions, "True", last.reason, last.message, generation, now), event=event)
    conditions = _set(conditions, "False", last.reason, last.message, generation, now)
    if state.pending:
        return TrackingStep(conditions, event=event)
    retry_at = last.finished_at + timedelta(seconds=retry_seconds)
    if now >= retry_at:
        return TrackingStep(conditions, request=True, event=event)
    return TrackingStep(conditions, wake_at=retry_at, event=event)


def _event_of(current: dict[str, Any] | None, last: TrackingAttempt) -> Event | None:
    """An Event when the attempt says something the condition does not say yet: each retry that
    fails the same way posts nothing more."""
    status = "True" if last.logged else "False"
    if current is not None and current.get("status") == status and current.get("reason") == last.reason:
        return None
    return Event("Normal" if last.logged else "Warning", str(last.reason), last.message[:1000])


def queued_for_tracking(
    conditions: list[dict[str, Any]], tracking_uri: str, generation: int, now: datetime
) -> list[dict[str, Any]]:
    """The conditions of a run that has just finished: Tracked Unknown until the next reconcile
    (woken at once) hands the run, as written, to the tracker."""
    return _set(conditions, "Unknown", TrackingReason.LOGGING, f"queued for {tracking_uri}", generation, now)


def _set(
    conditions: list[dict[str, Any]], status: ConditionStatus, reason: str, message: str, generation: int, now: datetime
) -> list[dict[str, Any]]:
    return set_condition(
        conditions,
        type=TRACKED,
        status=status,
        reason=str(reason),
        message=message[:2000],
        observed_generation=generation,
        now=rfc3339(now),
    )
