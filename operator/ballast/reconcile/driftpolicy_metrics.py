"""Reading a DriftPolicy's Outcome for what the handler counts in the operator's metrics."""

from __future__ import annotations

from datetime import datetime

from ballast.api.driftpolicy import DriftAction, DriftPolicySpec, DriftPolicyStatus, Firing
from ballast.conditions import rfc3339
from ballast.reasons.driftpolicy import DRIFT_DETECTED, IN_FLIGHT, FiringOutcome, RetrainResult
from ballast.reconcile.outcome import Outcome

ENDED_RETRAINS = {
    FiringOutcome.PROMOTED: RetrainResult.PROMOTED,
    FiringOutcome.NOT_PROMOTED: RetrainResult.REJECTED,
    FiringOutcome.ROLLED_BACK: RetrainResult.ROLLED_BACK,
    FiringOutcome.FAILED: RetrainResult.FAILED,
    FiringOutcome.MISSING: RetrainResult.FAILED,
}
"""How a retraining that ended is counted in ballast_retrains_total."""


def fired_action(outcome: Outcome, spec: DriftPolicySpec) -> str | None:
    """The action of the firing this reconcile made, if it made one: each posts one DriftDetected."""
    if any(event.reason == DRIFT_DETECTED for event in outcome.events):
        return (spec.action or DriftAction()).type
    return None


def window_restarted(outcome: Outcome, now: datetime) -> bool:
    """Whether a new window starts now (a firing or a full period): the counters read now are its start."""
    return outcome.status.get("windowStart") == rfc3339(now)


def retrain_results(before: DriftPolicyStatus, outcome: Outcome) -> list[RetrainResult]:
    """Retrainings that ended in this reconcile: promoted, rejected, rolledBack or failed."""
    was = {f.training_run: f.outcome for f in before.firings or [] if f.training_run}
    after = [Firing.model_validate(firing) for firing in outcome.status.get("firings") or []]
    return [
        ENDED_RETRAINS[firing.outcome]
        for firing in after
        if firing.training_run
        # a run adopted in this very reconcile was Created a moment ago
        and was.get(firing.training_run, FiringOutcome.CREATED) in IN_FLIGHT
        and firing.outcome in ENDED_RETRAINS
    ]
