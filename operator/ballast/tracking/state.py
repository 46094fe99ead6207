"""Where the logging of one finished TrainingRun to the tracking server stands, as the tracker
keeps it in memory and the TrainingRun's reconcile reads it (ballast.reconcile.tracking)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ballast.reasons.trainingrun import TrackingReason


@dataclass(frozen=True)
class TrackingAttempt:
    """The outcome of one finished attempt."""

    reason: TrackingReason
    """Logged, TrackingServerUnreachable or TrackingRefused."""
    message: str
    finished_at: datetime

    @property
    def logged(self) -> bool:
        return self.reason == TrackingReason.LOGGED


@dataclass(frozen=True)
class TrackingState:
    pending: bool
    """Queued or being logged right now."""
    last: TrackingAttempt | None = None
    """The newest finished attempt, if any (a retry keeps the failure it retries until it ends)."""
