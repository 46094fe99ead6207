"""DriftPolicy: judge the model's Production version on windows of live traffic, fire when it
drifts, and follow the retraining a firing starts through to its rollout.

The pure function here decides, and builds the status; the handler reads the counters
(ballast.handlers.driftpolicy), keeps the window's starting readings (ballast.drift.window_memory)
and judges the window (driftpolicy_schedule.evaluate_window) before calling it. When the counters
are read is driftpolicy_schedule's concern, the verdict and the firing driftpolicy_firing's, the
retraining a firing starts driftpolicy_retrains'.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ballast.api.driftpolicy import Baseline, DriftPolicyStatus, Firing
from ballast.conditions import ConditionType, at_second, rfc3339, set_condition, set_progress
from ballast.reasons.driftpolicy import (
    BASELINE_RECORDED,
    COLLECTING_BASELINE,
    NO_PRODUCTION_VERSION,
    PROMETHEUS_NO_DATA,
    WATCHING,
    Verdict,
)
from ballast.reconcile.driftpolicy_baseline import baseline_target, replacing_patch
from ballast.reconcile.driftpolicy_firing import judge
from ballast.reconcile.driftpolicy_inputs import ConditionValue, DriftObservation, PolicyInputs, production_name
from ballast.reconcile.driftpolicy_retrains import adopt_orphan_runs, follow_retrains, retraining_condition
from ballast.reconcile.driftpolicy_schedule import next_evaluation
from ballast.reconcile.outcome import Outcome
from ballast.reconcile.progress import drift_policy_standing
from ballast.reconcile.typed import condition_of, wire_conditions

MAX_FIRINGS = 20


def reconcile_drift_policy(observed: DriftObservation) -> Outcome:
    policy = PolicyInputs.parse(observed)
    generation, now = policy.generation, policy.now
    outcome = Outcome()
    status = DriftPolicyStatus(observed_generation=generation)
    """The fields this reconcile writes, typed; written as a merge patch (to_merge_patch) at the end."""
    firings = adopt_orphan_runs(list(policy.status.firings or []), observed.runs)
    firings = follow_retrains(outcome, firings, policy)

    production = production_name(observed.production)
    if production is None:
        ready, drifting = _nothing_to_watch(status, policy)
    elif observed.window_problem is not None:
        ready, drifting = _window_unread(status, policy, production, observed.window_problem)
    else:
        ready, drifting = _watch(outcome, status, firings, policy, production)

    refusal = policy.template_refusal
    if refusal is not None:
        # said at once, not only when the policy first fires: drift is still judged and reported
        ready = ("False", refusal.reason, refusal.message)
    conditions = wire_conditions(policy.status)
    conditions = _set(conditions, ConditionType.DRIFTING, drifting, generation, now)
    retraining = retraining_condition(firings)
    if retraining is not None:
        conditions = _set(conditions, ConditionType.RETRAINING, retraining, generation, now)
    conditions = _set(conditions, ConditionType.READY, ready, generation, now)
    written = status.model_fields_set  # what this reconcile found; the rest still stands
    standing = drift_policy_standing(
        *ready,
        verdict=status.verdict if "verdict" in written else policy.status.verdict,
        checks=(status.checks if "checks" in written else policy.status.checks) or (),
    )
    conditions = set_progress(conditions, standing, observed_generation=generation, now=rfc3339(now))
    if firings or policy.status.firings:
        status.firings = firings[:MAX_FIRINGS]
    # conditions stay as every kind's reconciler keeps them: the wire form set_condition works on
    patch = status.to_merge_patch()
    if status.baseline is not None:
        patch["baseline"] = replacing_patch(status.baseline)
    outcome.status = patch | {"conditions": conditions}
    if production is not None:
        outcome.wake_at = next_evaluation(policy, evaluated_now="last_evaluation_time" in status.model_fields_set)
    return outcome


def _nothing_to_watch(status: DriftPolicyStatus, policy: PolicyInputs) -> tuple[ConditionValue, ConditionValue]:
    status.model_version = None
    message = f"model {policy.spec.model} has no Production version to watch"
    return ("Unknown", NO_PRODUCTION_VERSION, message), ("Unknown", NO_PRODUCTION_VERSION, message)


def _window_unread(
    status: DriftPolicyStatus, policy: PolicyInputs, production: str, problem: tuple[str, str]
) -> tuple[ConditionValue, ConditionValue]:
    """The counters could not be read: said on Ready, and tried again at the next interval."""
    reason, message = problem
    status.model_version, status.last_evaluation_time = production, at_second(policy.now)
    if reason == PROMETHEUS_NO_DATA:  # nothing counted in the window: unknown, not broken
        status.verdict, status.samples = Verdict.NOT_ENOUGH_DATA, 0
        return ("True", WATCHING, f"watching {production}"), ("Unknown", Verdict.NOT_ENOUGH_DATA, message)
    return ("False", reason, message), ("Unknown", reason, message)


def _watch(
    outcome: Outcome, status: DriftPolicyStatus, firings: list[Firing], policy: PolicyInputs, production: str
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
    status.model_version = production
    if observed.window_started_at is not None:
        status.window_start = at_second(observed.window_started_at)
    if observed.baseline is not None:
        drifting = _gather_baseline(status, policy, observed.baseline)
    elif observed.evaluation is not None:
        drifting = judge(outcome, status, firings, policy, observed.evaluation, production)
    elif observed.window_started_at == now:
        # a window started: the first reading only sets its start, the next one judges it
        status.last_evaluation_time = at_second(now)
        if policy.status.model_version != production:
            drifting = ("Unknown", Verdict.NOT_ENOUGH_DATA, f"a new window started on {production}")
            # the previous version's scores say nothing about this one
            status.verdict, status.samples, status.score = Verdict.NOT_ENOUGH_DATA, 0, None
            status.checks, status.features = [], []
    return ready, drifting


def _gather_baseline(status: DriftPolicyStatus, policy: PolicyInputs, baseline: Baseline) -> ConditionValue:
    """A reading that gathers the production baseline: nothing is judged, the progress (or the
    baseline, once complete) is written, and a recorded baseline starts the first judged window."""
    now = policy.now
    status.baseline = baseline
    status.last_evaluation_time = at_second(now)
    # the previous version's scores say nothing about this one, which is not judged yet
    status.verdict, status.samples, status.score = Verdict.NOT_ENOUGH_DATA, baseline.rows, None
    status.checks, status.features = [], []
    version = baseline.model_version
    if baseline.recorded_at is not None:
        status.window_start = at_second(now)
        return (
            "Unknown",
            BASELINE_RECORDED,
            f"recorded a baseline of {baseline.rows} predictions of {version}; the next windows are judged against it",
        )
    target = baseline_target(policy.spec)
    until = (baseline.started_at or now) + timedelta(seconds=target.period_seconds)
    return (
        "Unknown",
        COLLECTING_BASELINE,
        f"collecting a baseline of {version}'s traffic: {baseline.rows} of {target.min_samples} predictions, "
        f"until at least {rfc3339(until)}",
    )


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
