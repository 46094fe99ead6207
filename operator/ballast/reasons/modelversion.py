"""ModelVersion: its stages, its condition types, and the reasons its Ready condition and Events carry."""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class Stage(StrEnum):
    """Where a version is among its model's versions."""

    CANDIDATE = "Candidate"
    CANARY = "Canary"
    PRODUCTION = "Production"
    SUPERSEDED = "Superseded"
    ROLLED_BACK = "RolledBack"
    FAILED = "Failed"


SERVING_STAGES: Final = frozenset({Stage.CANARY, Stage.PRODUCTION})
"""Stages whose version takes a share of the model's traffic."""


# What the analysis of a canary step says (status.analysis.verdict). No class docstring: the API's
# status model uses it, and pydantic would copy it into the CRD in place of the field's description.
class CanaryVerdict(StrEnum):
    PASS = "Pass"
    FAIL = "Fail"
    NOT_ENOUGH_DATA = "NotEnoughData"
    """Too few requests reached the canary in the step to judge it."""


ARTIFACT_VERIFIED: Final = "ArtifactVerified"
"""The condition type that records the last verification of the artifact."""
SERVICE_CONFLICT: Final = "ServiceConflict"
"""The condition type, and its reason while the model's Service is someone else's."""
SERVICE_OWNED: Final = "ServiceOwned"
"""The ServiceConflict reason once the model's Service is Ballast's again (the condition goes False)."""


class Reason(StrEnum):
    """Reasons of the Ready condition and of the Events a ModelVersion gets; a verification
    failure uses the store's or the archive's own reason instead (DigestMismatch, ...)."""

    RECONCILING = "Reconciling"
    REGISTERED = "Registered"
    VERIFIED = "Verified"
    DEPLOYING = "Deploying"
    QUEUED = "Queued"
    CANARY = "Canary"
    CANARY_STARTED = "CanaryStarted"
    CANARY_STEP = "CanaryStep"
    CANARY_PASSED = "CanaryPassed"
    AWAITING_APPROVAL = "AwaitingApproval"
    PROMOTED = "Promoted"
    SERVING = "Serving"
    REPLICAS_UNAVAILABLE = "ReplicasUnavailable"
    SUPERSEDED = "Superseded"
    ROLLING_BACK = "RollingBack"
    ROLLED_BACK = "RolledBack"
