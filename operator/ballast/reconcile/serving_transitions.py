"""A ModelVersion's stage machine, as a table: the first transition whose stage and guard match
decides. Each action says where the version goes (stage, replicas, Ready) and records in the
Outcome what goes with it: status fields, Events, the siblings it takes Production from, and
when the decision must be looked at again (wake_at) if nothing else changes.

A version enters Production only after the version it replaces has left it: the promoting
reconcile patches the replaced version to Superseded (compare-and-set on its stage) after its
own children and before its own status, so no client ever reads two Production versions of a
model. A crash in between leaves the model with none for a moment; the next reconcile promotes
the new version again, as it finds no Production sibling in its way.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ballast.api.kinds import MODEL_VERSION
from ballast.api.modelversion import RolloutStrategy
from ballast.canary.samples import Sample
from ballast.conditions import rfc3339
from ballast.reasons.modelversion import SERVING_STAGES, CanaryVerdict, Reason, Stage
from ballast.reconcile.durations import parse_duration, parse_time
from ballast.reconcile.outcome import Outcome, StatusPatch
from ballast.reconcile.serving_state import Ready, ServingInput, Sibling, StageDecision

Guard = Callable[[ServingInput], bool]
Action = Callable[[ServingInput, Outcome], StageDecision]


@dataclass(frozen=True)
class Transition:
    name: str
    from_stages: frozenset[Stage]
    guard: Guard
    action: Action

    def applies(self, situation: ServingInput) -> bool:
        return situation.stage in self.from_stages and self.guard(situation)


def _always(_: ServingInput) -> bool:
    return True


# ---- what several transitions record ------------------------------------------------------


def wake_no_later_than(outcome: Outcome, moment: datetime) -> None:
    outcome.wake_at = moment if outcome.wake_at is None else min(outcome.wake_at, moment)


def _enter_production(situation: ServingInput, outcome: Outcome, message: str) -> None:
    """Promotion: this version's promotedAt and Event, and every other Production version of the
    model Superseded first (see the module's docstring)."""
    stamp = rfc3339(situation.now)
    outcome.status["promotedAt"] = stamp
    outcome.event("Normal", Reason.PROMOTED, message)
    for replaced in situation.production:
        outcome.patch_statuses.append(_superseded_patch(situation.namespace, replaced, stamp))


def _superseded_patch(namespace: str, replaced: Sibling, stamp: str) -> StatusPatch:
    same_object = [{"op": "test", "path": "/metadata/uid", "value": replaced.uid}] if replaced.uid else []
    return StatusPatch(
        plural=MODEL_VERSION.plural,
        namespace=namespace,
        name=replaced.name,
        operations=(
            *same_object,
            {"op": "test", "path": "/status/stage", "value": Stage.PRODUCTION.value},
            {"op": "replace", "path": "/status/stage", "value": Stage.SUPERSEDED.value},
            {"op": "add", "path": "/status/supersededAt", "value": stamp},
        ),
    )


def _leave_production(situation: ServingInput, outcome: Outcome, why: str) -> None:
    outcome.status["supersededAt"] = rfc3339(situation.now)
    outcome.event("Normal", Reason.SUPERSEDED, why)


def _registered_readiness(situation: ServingInput) -> Ready:
    if situation.verified:
        return Ready("True", Reason.REGISTERED, "serving is not enabled for this version")
    return Ready("False", situation.verification.reason, situation.verification.message)


def _serving_readiness(ready: int, wanted: int) -> Ready:
    if ready >= wanted:
        return Ready("True", Reason.SERVING, f"{ready} of {wanted} replicas ready")
    return Ready("False", Reason.REPLICAS_UNAVAILABLE, f"{ready} of {wanted} replicas ready")


def canary_replicas(production: Sibling, percent: int) -> int:
    """Replicas that give the canary about `percent` of the traffic next to Production's
    ready replicas, behind one Service; never fewer than one."""
    if percent >= 100:
        return max(1, production.ready_replicas)
    return max(1, math.ceil(production.ready_replicas * percent / (100 - percent)))


def _step_state(situation: ServingInput, step: int, production: str) -> dict[str, Any]:
    return {
        "step": step,
        "stepStartedAt": rfc3339(situation.now),
        "production": production,
        "canaryStart": situation.samples.get(situation.name, Sample()).to_status(),
        "productionStart": situation.samples.get(production, Sample()).to_status(),
    }


def _analysis_interval(situation: ServingInput) -> timedelta:
    return timedelta(seconds=parse_duration(situation.rollout.analysis_interval))


def _step_label(situation: ServingInput, step: int) -> str:
    return f"step {step + 1} of {len(situation.steps)}"


# ---- serving disabled, or an artifact that does not verify --------------------------------


def supersede_when_serving_is_disabled(situation: ServingInput, outcome: Outcome) -> StageDecision:
    _leave_production(situation, outcome, "serving was disabled")
    return StageDecision(Stage.SUPERSEDED, 0, _registered_readiness(situation))


def fail_verification(situation: ServingInput, outcome: Outcome) -> StageDecision:
    message = f"{situation.verification.message}; the artifact is never served"
    return StageDecision(Stage.FAILED, 0, Ready("False", situation.verification.reason, message))


def stay_registered(situation: ServingInput, outcome: Outcome) -> StageDecision:
    stage = Stage.CANDIDATE if situation.stage is Stage.FAILED else situation.stage
    return StageDecision(stage, 0, _registered_readiness(situation))


# ---- rollback requests, Superseded and RolledBack versions --------------------------------


def _rollback_wanted(situation: ServingInput) -> bool:
    return situation.rollback_requested and situation.verified


def _rollback_ready(situation: ServingInput) -> bool:
    return _rollback_wanted(situation) and situation.deployment_ready >= situation.wanted > 0


def roll_back_to_this_version(situation: ServingInput, outcome: Outcome) -> StageDecision:
    current = situation.production[0].name if situation.production else None
    _enter_production(
        situation,
        outcome,
        f"{situation.name} is in Production again (rollback" + (f" from {current})" if current else ")"),
    )
    outcome.status.update(supersededAt=None, canary=None, rollbackReason=None)
    return StageDecision(
        Stage.PRODUCTION, situation.wanted, Ready("True", Reason.SERVING, "brought back by a rollback request")
    )


def scale_up_for_rollback(situation: ServingInput, outcome: Outcome) -> StageDecision:
    progress = f"{situation.deployment_ready} of {situation.wanted} replicas ready"
    return StageDecision(situation.stage, situation.wanted, Ready("Unknown", Reason.ROLLING_BACK, progress))


def stay_superseded(situation: ServingInput, outcome: Outcome) -> StageDecision:
    """Still serving during the grace period (clients finish on the old pods), then scaled down."""
    grace_ends = situation.superseded_grace_ends
    in_grace = situation.now < grace_ends
    if in_grace:
        wake_no_later_than(outcome, grace_ends)
    ready = Ready("True", Reason.SUPERSEDED, "a newer version is in Production")
    return StageDecision(Stage.SUPERSEDED, situation.wanted if in_grace else 0, ready)


def stay_rolled_back(situation: ServingInput, outcome: Outcome) -> StageDecision:
    reason = situation.status.rollback_reason or "the canary failed its analysis"
    return StageDecision(Stage.ROLLED_BACK, 0, Ready("False", Reason.ROLLED_BACK, reason))


# ---- Production ---------------------------------------------------------------------------


def _newer_production(situation: ServingInput) -> Sibling | None:
    """A Production sibling promoted after this version: one whose promotion predates the
    superseding patch, or an operator that crashed before it."""
    own = situation.status.promoted_at
    return next(
        (s for s in situation.production if s.promoted_at and (own is None or parse_time(s.promoted_at) > own)),
        None,
    )


def give_way_to_a_newer_version(situation: ServingInput, outcome: Outcome) -> StageDecision:
    newer = _newer_production(situation)
    assert newer is not None
    _leave_production(situation, outcome, f"{newer.name} was promoted")
    wake_no_later_than(outcome, situation.now + timedelta(seconds=situation.settings.superseded_grace_seconds))
    ready = Ready("True", Reason.SUPERSEDED, f"{newer.name} is in Production")
    return StageDecision(Stage.SUPERSEDED, situation.wanted, ready)


def keep_serving(situation: ServingInput, outcome: Outcome) -> StageDecision:
    return StageDecision(
        Stage.PRODUCTION, situation.wanted, _serving_readiness(situation.deployment_ready, situation.wanted)
    )


# ---- Candidate (and a Failed version whose artifact verifies again) ----------------------


def _canary_wanted(situation: ServingInput) -> bool:
    return bool(situation.production) and situation.rollout.strategy == RolloutStrategy.CANARY


def _another_canary(situation: ServingInput) -> bool:
    return _canary_wanted(situation) and bool(situation.canaries)


def queue_behind_the_canary(situation: ServingInput, outcome: Outcome) -> StageDecision:
    message = f"{situation.canaries[0].name} is the model's canary; this version waits"
    return StageDecision(Stage.CANDIDATE, 0, Ready("Unknown", Reason.QUEUED, message))


def start_a_canary(situation: ServingInput, outcome: Outcome) -> StageDecision:
    production, steps = situation.production[0], situation.steps
    outcome.status["canary"] = _step_state(situation, 0, production.name)
    outcome.event(
        "Normal",
        Reason.CANARY_STARTED,
        f"canary at step 1 of {len(steps)} ({steps[0]}%) against {production.name}",
    )
    wake_no_later_than(outcome, situation.now + _analysis_interval(situation))
    ready = Ready("Unknown", Reason.CANARY, _step_label(situation, 0))
    return StageDecision(Stage.CANARY, canary_replicas(production, steps[0]), ready)


def _pods_ready(situation: ServingInput) -> bool:
    return situation.deployment_ready >= situation.wanted > 0


def promote_once_ready(situation: ServingInput, outcome: Outcome) -> StageDecision:
    replaced = f", replacing {situation.production[0].name}" if situation.production else ""
    _enter_production(situation, outcome, f"{situation.name} is in Production{replaced}")
    progress = f"{situation.deployment_ready} of {situation.wanted} replicas ready"
    return StageDecision(Stage.PRODUCTION, situation.wanted, Ready("True", Reason.SERVING, progress))


def deploy(situation: ServingInput, outcome: Outcome) -> StageDecision:
    progress = f"{situation.deployment_ready} of {situation.wanted} replicas ready"
    return StageDecision(Stage.CANDIDATE, situation.wanted, Ready("Unknown", Reason.DEPLOYING, progress))


# ---- Canary -------------------------------------------------------------------------------


def _baseline_gone(situation: ServingInput) -> bool:
    return situation.baseline is None


def _passed_all_steps(situation: ServingInput) -> bool:
    return bool(situation.status.canary and situation.status.canary.passed_all_steps)


def _analysis_not_due(situation: ServingInput) -> bool:
    due = situation.analysis_due_at
    return due is not None and situation.now < due


def _verdict_is(verdict: CanaryVerdict) -> Guard:
    def guard(situation: ServingInput) -> bool:
        return situation.analysis.verdict == verdict

    return guard


def _passed_with_steps_left(situation: ServingInput) -> bool:
    return situation.analysis.verdict == CanaryVerdict.PASS and situation.step + 1 < len(situation.steps)


def _current_replicas(situation: ServingInput) -> int:
    baseline = situation.baseline
    assert baseline is not None
    return canary_replicas(baseline, situation.steps[situation.step])


def _record_analysis(situation: ServingInput, outcome: Outcome) -> None:
    analysis = situation.analysis
    outcome.status["analysis"] = {
        "time": rfc3339(situation.now),
        "step": situation.step,
        "verdict": analysis.verdict,
        "message": analysis.message[:2000],
        "checks": [check.to_status() for check in analysis.checks],
    }


def promote_without_a_baseline(situation: ServingInput, outcome: Outcome) -> StageDecision:
    _enter_production(
        situation, outcome, f"{situation.name} is in Production (the version it was compared with is gone)"
    )
    return StageDecision(Stage.PRODUCTION, situation.wanted, Ready("True", Reason.SERVING, "promoted"))


def promote_or_await_approval(situation: ServingInput, outcome: Outcome) -> StageDecision:
    rollout = situation.rollout
    if rollout.auto_promote or rollout.approved:
        if not rollout.auto_promote:
            outcome.status["approval"] = {
                "by": situation.approved_by or "unknown",
                "at": rfc3339(situation.now),
                **({"user": situation.approved_user} if situation.approved_user else {}),
            }
        _enter_production(situation, outcome, f"{situation.name} is in Production")
        ready = Ready("True", Reason.SERVING, "promoted after every canary step passed")
        return StageDecision(Stage.PRODUCTION, situation.wanted, ready)
    ready = Ready(
        "Unknown", Reason.AWAITING_APPROVAL, "every canary step passed; set spec.rollout.approved to true to promote"
    )
    return StageDecision(Stage.CANARY, _current_replicas(situation), ready)


def wait_for_the_analysis(situation: ServingInput, outcome: Outcome) -> StageDecision:
    assert situation.analysis_due_at is not None
    wake_no_later_than(outcome, situation.analysis_due_at)
    step = situation.step
    ready = Ready("Unknown", Reason.CANARY, f"{_step_label(situation, step)} ({situation.steps[step]}%)")
    return StageDecision(Stage.CANARY, _current_replicas(situation), ready)


def roll_the_canary_back(situation: ServingInput, outcome: Outcome) -> StageDecision:
    _record_analysis(situation, outcome)
    step, message = situation.step, situation.analysis.message
    reason = f"step {step + 1} ({situation.steps[step]}%): {message}"
    outcome.status["rollbackReason"] = reason
    baseline = situation.baseline
    assert baseline is not None
    outcome.event(
        "Warning", Reason.ROLLED_BACK, f"canary failed at step {step + 1}: {message}; {baseline.name} keeps serving"
    )
    return StageDecision(Stage.ROLLED_BACK, 0, Ready("False", Reason.ROLLED_BACK, reason))


def wait_for_data(situation: ServingInput, outcome: Outcome) -> StageDecision:
    """Too few requests to judge: the step's window grows until there are enough."""
    _record_analysis(situation, outcome)
    wake_no_later_than(outcome, situation.now + timedelta(seconds=situation.settings.poll_interval_seconds))
    ready = Ready("Unknown", Reason.CANARY, f"{_step_label(situation, situation.step)}: {situation.analysis.message}")
    return StageDecision(Stage.CANARY, _current_replicas(situation), ready)


def move_to_the_next_step(situation: ServingInput, outcome: Outcome) -> StageDecision:
    _record_analysis(situation, outcome)
    baseline = situation.baseline
    assert baseline is not None
    step, steps = situation.step + 1, situation.steps
    outcome.status["canary"] = _step_state(situation, step, baseline.name)
    outcome.event(
        "Normal", Reason.CANARY_STEP, f"step {step} passed ({situation.analysis.message}); now at {steps[step]}%"
    )
    wake_no_later_than(outcome, situation.now + _analysis_interval(situation))
    ready = Ready("Unknown", Reason.CANARY, f"{_step_label(situation, step)} ({steps[step]}%)")
    return StageDecision(Stage.CANARY, canary_replicas(baseline, steps[step]), ready)


def pass_the_last_step(situation: ServingInput, outcome: Outcome) -> StageDecision:
    _record_analysis(situation, outcome)
    state = situation.status.canary
    assert state is not None
    outcome.status["canary"] = {**state.to_wire(), "passedAllSteps": True}
    outcome.event("Normal", Reason.CANARY_PASSED, f"every step passed ({situation.analysis.message})")
    return promote_or_await_approval(situation, outcome)


# ---- the table ----------------------------------------------------------------------------

ALL_STAGES = frozenset(Stage)
NOT_YET_SERVED = frozenset({Stage.CANDIDATE, Stage.FAILED})
REPLACED = frozenset({Stage.SUPERSEDED, Stage.ROLLED_BACK})
CANARY = frozenset({Stage.CANARY})
PRODUCTION = frozenset({Stage.PRODUCTION})

TRANSITIONS: tuple[Transition, ...] = (
    Transition(
        "supersede when serving is disabled",
        SERVING_STAGES,
        lambda s: not s.serving_enabled,
        supersede_when_serving_is_disabled,
    ),
    # a version already serving keeps its verified copy (Ready says the file changed); any
    # other is never served from a file that does not verify
    Transition("fail verification", NOT_YET_SERVED | {Stage.ROLLED_BACK}, lambda s: not s.verified, fail_verification),
    Transition("stay registered", ALL_STAGES, lambda s: not s.serving_enabled, stay_registered),
    Transition("roll back to this version", REPLACED, _rollback_ready, roll_back_to_this_version),
    Transition("scale up for a rollback", REPLACED, _rollback_wanted, scale_up_for_rollback),
    Transition("stay superseded", frozenset({Stage.SUPERSEDED}), _always, stay_superseded),
    Transition("stay rolled back", frozenset({Stage.ROLLED_BACK}), _always, stay_rolled_back),
    Transition(
        "give way to a newer version",
        PRODUCTION,
        lambda s: _newer_production(s) is not None,
        give_way_to_a_newer_version,
    ),
    Transition("keep serving", PRODUCTION, _always, keep_serving),
    Transition("queue behind the canary", NOT_YET_SERVED, _another_canary, queue_behind_the_canary),
    Transition("start a canary", NOT_YET_SERVED, _canary_wanted, start_a_canary),
    Transition("promote once ready", NOT_YET_SERVED, _pods_ready, promote_once_ready),
    Transition("deploy", NOT_YET_SERVED, _always, deploy),
    Transition("promote without a baseline", CANARY, _baseline_gone, promote_without_a_baseline),
    Transition("promote or await approval", CANARY, _passed_all_steps, promote_or_await_approval),
    Transition("wait for the analysis", CANARY, _analysis_not_due, wait_for_the_analysis),
    Transition("roll the canary back", CANARY, _verdict_is(CanaryVerdict.FAIL), roll_the_canary_back),
    Transition("wait for data", CANARY, _verdict_is(CanaryVerdict.NOT_ENOUGH_DATA), wait_for_data),
    Transition("move to the next step", CANARY, _passed_with_steps_left, move_to_the_next_step),
    Transition("pass the last step", CANARY, _verdict_is(CanaryVerdict.PASS), pass_the_last_step),
)


def transition_for(situation: ServingInput) -> Transition:
    """The first transition that applies: every stage ends with one whose guard always holds
    (for Canary, the three verdicts of an analysis that is due)."""
    return next(t for t in TRANSITIONS if t.applies(situation))
