"""The reasons a TrainingRun's conditions and Events carry. A training pod's own failure reasons
(InvalidEstimator, ...) and a refused image's pass through as they were given."""

from __future__ import annotations

from enum import StrEnum


class TrainingRunReason(StrEnum):
    TRAINING = "Training"
    """The Job is created or running."""
    TRAINED = "Trained"
    """Succeeded True: the gates passed and the ModelVersion is registered."""
    GATE_FAILED = "GateFailed"
    TRAINING_FAILED = "TrainingFailed"
    """The training pod failed without saying why."""
    DEADLINE_EXCEEDED = "DeadlineExceeded"
    """The Job ran past spec.activeDeadlineSeconds."""
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
