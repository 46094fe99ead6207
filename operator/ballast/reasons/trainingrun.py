"""The reasons a TrainingRun's conditions and Events carry. A training pod's own failure reasons
(InvalidEstimator, ...) and a refused image's pass through as they were given."""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class TrainingRunReason(StrEnum):
    TRAINING = "Training"
    """The Job is created or running."""
    TRAINED = "Trained"
    """Succeeded True: the gates passed and the ModelVersion is registered."""
    GATE_FAILED = "GateFailed"
    TRAINING_FAILED = "TrainingFailed"
    """The training pod failed without saying why."""
    DEADLINE_EXCEEDED = "DeadlineExceeded"
    """The Job (or the DaskJob, counted from status.startedAt) ran past spec.activeDeadlineSeconds."""
    ENGINE_NOT_INSTALLED = "EngineNotInstalled"
    """spec.compute names an engine whose operator's CRD the cluster lacks (creating its object
    gave 404): the run fails at once (Stalled), as only an administrator can install it."""
    ENGINE_NOT_RESPONDING = "EngineNotResponding"
    """The engine's object (a DaskJob) exists, but its operator made no pod of it in
    Settings.engine_response_seconds: that operator is not running, or does not serve the run's
    namespace. The run waits (Ready Unknown) until its deadline."""
    DATASET_NOT_READY = "DatasetNotReady"
    """The Dataset or the version is not there (yet): the run waits, until dataset_wait_seconds."""
    DATASET_VERSION_INVALID = "DatasetVersionInvalid"
    """The version is invalid, or the store's copy is not what was pinned: the run fails at once."""


class RunPhase(StrEnum):
    """Where a run stands after a reconcile; it is not stored: Ready and Succeeded say it."""

    RUNNING = "Running"
    """Ready Unknown, Succeeded Unknown: the Job is created or running."""
    WAITING = "Waiting"
    """Ready False, Succeeded Unknown: no Job yet, the Dataset (or its version) is not there."""
    SUCCEEDED = "Succeeded"
    """Ready True, Succeeded True."""
    FAILED = "Failed"
    """Ready False, Succeeded False: over, for good."""


TRACKED: Final = "Tracked"
"""The condition type that says whether a finished run is logged to the experiment tracking
server (ballast.tracking); present only when one is configured. It never touches Ready,
Succeeded or Stalled: tracking is a copy for people to look at, never part of the run's outcome."""


class TrackingReason(StrEnum):
    """Reasons of the Tracked condition."""

    LOGGING = "Logging"
    """Unknown: the run is queued for the tracking server, or being logged."""
    LOGGED = "Logged"
    """True: the tracking server holds the run (its params, metrics, gates, tags and card)."""
    TRACKING_SERVER_UNREACHABLE = "TrackingServerUnreachable"
    """False: no answer (refused connection, timeout, a 5xx after the client's retries); tried again later."""
    TRACKING_REFUSED = "TrackingRefused"
    """False: the server answered with an error (credentials, permissions, a limit); tried again later."""
