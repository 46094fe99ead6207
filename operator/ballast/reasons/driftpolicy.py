"""DriftPolicy's verdicts, condition reasons, firing outcomes and Event reasons."""

from __future__ import annotations

from enum import StrEnum
from typing import Final


# What a check, and the policy as a whole, says of a window (status.verdict, checks[].verdict). The
# API's status models use these enums: no class docstrings, which pydantic would copy into the CRDs
# in place of each field's own description.
class Verdict(StrEnum):
    DRIFT = "Drift"
    NO_DRIFT = "NoDrift"
    NOT_ENOUGH_DATA = "NotEnoughData"
    """Too few rows or labels in the window to say anything: unknown, never read as no drift."""
    ERROR = "Error"
    """The server does not export what the check needs."""


class Check(StrEnum):
    """The checks of spec.checks; a drifting check names the Drifting condition's reason."""

    FEATURE_DRIFT = "featureDrift"
    PREDICTION_DRIFT = "predictionDrift"
    INTEGRITY = "integrity"
    ACCURACY = "accuracy"
    ESTIMATED_ACCURACY = "estimatedAccuracy"
    ERROR_RATES = "errorRates"
    FAIRNESS = "fairness"

    @property
    def drifting_reason(self) -> str:
        """featureDrift -> FeatureDrift: a condition reason starts with a capital."""
        return self.value[0].upper() + self.value[1:]


# Ready
WATCHING: Final = "Watching"
NO_PRODUCTION_VERSION: Final = "NoProductionVersion"
"""Also the Drifting reason then: nothing is watched, so nothing is judged."""
PROMETHEUS_NO_DATA: Final = "PrometheusNoData"
"""Prometheus counted nothing in the window: not enough data, not a broken source."""

NO_NEWEST_REFERENCE: Final = "NoNewestReference"
"""spec.reference.source newestTraining: no model server gave the reference of the snapshot's
newest part (no such time column, no dated row, or no pod answered); nothing is judged."""

# Drifting, with spec.reference.source productionBaseline
COLLECTING_BASELINE: Final = "CollectingBaseline"
"""A new Production version's first traffic is gathered as the reference: nothing is judged yet."""
BASELINE_RECORDED: Final = "BaselineRecorded"
"""The baseline was recorded in this evaluation; the next windows are judged against it."""


# Where a firing's retraining stands (status.firings[].outcome, the Retraining reason).
class FiringOutcome(StrEnum):
    WAITING_FOR_DATA = "WaitingForData"
    CREATED = "Created"
    TRAINING = "Training"
    ROLLING_OUT = "RollingOut"
    WAITING_FOR_APPROVAL = "WaitingForApproval"
    PROMOTED = "Promoted"
    NOT_PROMOTED = "NotPromoted"
    ROLLED_BACK = "RolledBack"
    FAILED = "Failed"
    MISSING = "Missing"


IN_FLIGHT: Final = frozenset(
    {
        FiringOutcome.WAITING_FOR_DATA,
        FiringOutcome.CREATED,
        FiringOutcome.TRAINING,
        FiringOutcome.ROLLING_OUT,
        FiringOutcome.WAITING_FOR_APPROVAL,
    }
)
"""A retraining not over yet: it holds back new firings, and Retraining is True."""
NOT_RETRAINED: Final = "NotRetrained"
"""The Retraining reason when the last retrain firing started nothing (maxPerDay)."""

# Events
DRIFT_DETECTED: Final = "DriftDetected"
RETRAIN_CAPPED: Final = "RetrainCapped"
RETRAIN_STARTED: Final = "RetrainStarted"
RETRAIN_REJECTED: Final = "RetrainRejected"
RETRAIN_FAILED: Final = "RetrainFailed"
RETRAIN_PROMOTED: Final = "RetrainPromoted"
RETRAIN_ROLLED_BACK: Final = "RetrainRolledBack"
WAITING_FOR_DATA: Final = FiringOutcome.WAITING_FOR_DATA.value
"""Posted as an Event too, when a firing starts to wait for new data."""


class RetrainResult(StrEnum):
    """The `result` label of ballast_retrains_total."""

    CREATED = "created"
    PROMOTED = "promoted"
    REJECTED = "rejected"
    ROLLED_BACK = "rolledBack"
    FAILED = "failed"
