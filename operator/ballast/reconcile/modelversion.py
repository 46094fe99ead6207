"""ModelVersion (the registry part): Ready only while the artifact verifies; metrics and
lineage come from the metadata.json the trainer wrote beside it."""

from __future__ import annotations

from datetime import datetime

from ballast.conditions import rfc3339, set_condition
from ballast.reconcile.outcome import Outcome
from ballast.registry import Verification

INITIAL_STAGE = "Candidate"


def reconcile_model_version(body: dict, verification: Verification, now: datetime) -> Outcome:
    status = body.get("status") or {}
    generation = body["metadata"]["generation"]
    outcome = Outcome(status={"observedGeneration": generation})
    if not status.get("stage"):
        outcome.status["stage"] = INITIAL_STAGE
    metadata = verification.metadata
    if metadata.get("metrics"):
        outcome.status["metrics"] = {k: v for k, v in metadata["metrics"].items() if isinstance(v, (int, float))}
    if metadata.get("keyMetric"):
        outcome.status["keyMetric"] = metadata["keyMetric"]

    stamp = rfc3339(now)
    was_verified = _condition_status(status, "ArtifactVerified")
    conditions = set_condition(status.get("conditions"), type="ArtifactVerified",
                               status="True" if verification.ok else "False", reason=verification.reason,
                               message=verification.message, observed_generation=generation, now=stamp)
    ready_reason = "Registered" if verification.ok else verification.reason
    ready_message = ("artifact verified; serving is not enabled for this version" if verification.ok
                     else verification.message)
    outcome.status["conditions"] = set_condition(conditions, type="Ready",
                                                 status="True" if verification.ok else "False",
                                                 reason=ready_reason, message=ready_message,
                                                 observed_generation=generation, now=stamp)
    if verification.ok and was_verified != "True":
        outcome.event("Normal", "Verified", f"artifact {body['spec']['artifact']['sha256'][:12]} verified")
    if not verification.ok and was_verified != "False":
        outcome.event("Warning", verification.reason, verification.message)
    return outcome


def _condition_status(status: dict, type: str) -> str | None:
    return next((c["status"] for c in status.get("conditions") or [] if c["type"] == type), None)
