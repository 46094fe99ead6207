"""DriftPolicy: judge the model's Production version on windows of live traffic, fire when it
drifts, and follow the retraining a firing starts through to its rollout.

The pure function here decides, and builds the status; the handler reads the counters
(ballast.handlers.driftpolicy), keeps the window's starting readings (ballast.drift.window_memory)
and judges the window (driftpolicy_schedule.evaluate_window) before calling it. When the counters
are read is driftpolicy_schedule's concern, the verdict and the firing driftpolicy_firing's, the
retraining a firing starts driftpolicy_retrains'.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ballast.api.driftpolicy import DriftPolicyStatus, Firing
from ballast.conditions import ConditionType, rfc3339, set_condition
from ballast.reasons.driftpolicy import NO_PRODUCTION_VERSION, PROMETHEUS_NO_DATA, WATCHING, Verdict
from ballast.reconcile.driftpolicy_firing import judge
from ballast.reconcile.driftpolicy_inputs import ConditionValue, DriftObservation, PolicyInputs, production_name
from ballast.reconcile.driftpolicy_retrains import adopt_orphan_runs, follow_retrains, retraining_condition
from ballast.reconcile.driftpolicy_schedule import next_evaluation
from ballast.reconcile.outcome import Outcome
from ballast.reconcile.typed import condition_of, wire_conditions

MAX_FIRINGS = 20


def reconcile_drift_policy(observed: DriftObservation) -> Outcome:
    policy = PolicyInputs.parse(observed)
    generation, now = policy.generation, policy.now
    outcome = Outcome(status={"observedGeneration": generation})
    firings = adopt_orphan_runs(list(policy.status.firings or []), observed.runs)
    firings = follow_retrains(outcome, firings, policy)

    production = production_name(observed.production)
    if production is None:
        ready, drifting = _nothing_to_watch(outcome, policy)
    elif observed.window_problem is not None:
        ready, drifting = _window_unread(outcome, policy, production, observed.window_problem)
    else:
        ready, drifting = _watch(outcome, firings, policy, production)

    refusal = policy.template_refusal
    if refusal is not None:
        # said at once, not only when the policy first fires: drift is still judged and reported
        ready = ("False", refusal.reason, refusal.message)
    conditions = wire_conditions(policy.status)
    conditions = _set(conditions, ConditionType.DRIFTING, drifting, generation, now)
    retraining = retraining_condition(firings)
    if retraining is not None:
        conditions = _set(conditions, ConditionType.RETRAINING, retraining, generation, now)
    outcome.status["conditions"] = _set(conditions, ConditionType.READY, ready, generation, now)
    if firings or policy.status.firings:
        outcome.status["firings"] = [_wire_firing(firing) for firing in firings[:MAX_FIRINGS]]
    if production is not None:
        outcome.wake_at = next_evaluation(policy, evaluated_now="lastEvaluationTime" in outcome.status)
    return outcome


def _nothing_to_watch(outcome: Outcome, policy: PolicyInputs) -> tuple[ConditionValue, ConditionValue]:
    outcome.status["modelVersion"] = None
    message = f"model {policy.spec.model} has no Production version to watch"
    return ("Unknown", NO_PRODUCTION_VERSION, message), ("Unknown", NO_PRODUCTION_VERSION, message)


def _window_unread(
    outcome: Outcome, policy: PolicyInputs, production: str, problem: tuple[str, str]
) -> tuple[ConditionValue, ConditionValue]:
    """The counters could not be read: said on Ready, and tried again at the next interval."""
    reason, message = problem
    outcome.status.update(modelVersion=production, lastEvaluationTime=rfc3339(policy.now))
    if reason == PROMETHEUS_NO_DATA:  # nothing counted in the window: unknown, not broken
        outcome.status.update(verdict=Verdict.NOT_ENOUGH_DATA, samples=0)
        return ("True", WATCHING, f"watching {production}"), ("Unknown", Verdict.NOT_ENOUGH_DATA, message)
    return ("False", reason, message), ("Unknown", reason, message)


def _watch(
    outcome: Outcome, firings: list[Firing], policy: PolicyInputs, production: str
) -> tuple[ConditionValue, ConditionValue]:
    observed, now = policy.observed, policy.now
    ready: ConditionValue = ("True", WATCHING, f"watching {production}")
    if observed.evaluation is None and observed.window_started_at != now:
        # nothing was read in this reconcile: what the last read found still stands
        ready = _current(ConditionType.READY, policy.status) or ready
    drifting = _current(ConditionType.DRIFTING, policy.status) or (
        "Unknown",
        Verdict.NOT_ENOUGH_DATA,
        "no window evaluated yet",
    )
    outcome.status["modelVersion"] = production
    if observed.window_started_at is not None:
        outcome.status["windowStart"] = rfc3339(observed.window_started_at)
    if observed.evaluation is not None:
        drifting = judge(outcome, firings, policy, observed.evaluation, production)
    elif observed.window_started_at == now:
        # a window started: the first reading only sets its start, the next one judges it
        outcome.status["lastEvaluationTime"] = rfc3339(now)
        if policy.status.model_version != production:
            drifting = ("Unknown", Verdict.NOT_ENOUGH_DATA, f"a new window started on {production}")
            # the previous version's scores say nothing about this one
            outcome.status.update(verdict=Verdict.NOT_ENOUGH_DATA, samples=0, score=None, checks=[], features=[])
    return ready, drifting


def _set(
    conditions: list[dict[str, Any]], type: ConditionType, value: ConditionValue, generation: int, now: datetime
) -> list[dict[str, Any]]:
    status, reason, message = value
    return set_condition(
        conditions,
        type=type,
        status=status,
        reason=reason,
        message=message[:1024],
        observed_generation=generation,
        now=rfc3339(now),
    )


def _current(type: ConditionType, status: DriftPolicyStatus) -> ConditionValue | None:
    found = condition_of(status, type)
    return (found.status, found.reason, found.message) if found else None


def _wire_firing(firing: Firing) -> dict[str, Any]:
    """A firing as status keeps it: its time at the second, as the API server writes times."""
    return firing.to_wire() | {"time": rfc3339(firing.time)}
