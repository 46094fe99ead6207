"""Judging a DriftPolicy's window and firing: the verdict written to status, whether a drifting
window fires (not while a retraining is in flight or in cooldown), and what the firing does."""

from __future__ import annotations

from datetime import timedelta

from ballast.api.common import rounded_for_display
from ballast.api.driftpolicy import CheckResult, DriftPolicyStatus, FeatureResult, Firing
from ballast.conditions import at_second, rfc3339
from ballast.drift import window_memory
from ballast.drift.evaluation import Evaluation
from ballast.reasons.driftpolicy import DRIFT_DETECTED, IN_FLIGHT, RETRAIN_CAPPED, Check, Verdict
from ballast.reconcile.driftpolicy_inputs import ConditionValue, PolicyInputs
from ballast.reconcile.driftpolicy_retrains import start_retrain
from ballast.reconcile.durations import parse_duration
from ballast.reconcile.outcome import Outcome

MAX_CHECKS, MAX_FEATURES = 16, 256
DAY = timedelta(days=1)


def judge(
    outcome: Outcome,
    status: DriftPolicyStatus,
    firings: list[Firing],
    policy: PolicyInputs,
    evaluation: Evaluation,
    production: str,
) -> ConditionValue:
    """The Drifting condition of a judged window, its results set in `status`; a drifting window
    that may fire puts its firing first in `firings`."""
    now = policy.now
    status.last_evaluation_time = at_second(now)
    status.verdict = evaluation.verdict
    score = evaluation.max_feature_score
    status.score = None if score is None else rounded_for_display(score)
    status.samples = int(evaluation.rows)
    status.checks = _check_results(evaluation)
    status.features = _feature_results(evaluation)
    started = policy.observed.window_started_at or now
    if window_memory.period_over(started, now, parse_duration(policy.window.period)):
        status.window_start = at_second(now)

    if evaluation.verdict == Verdict.NOT_ENOUGH_DATA:
        return "Unknown", Verdict.NOT_ENOUGH_DATA, f"{evaluation.rows:.0f} rows in the window: {evaluation.summary()}"
    if evaluation.verdict != Verdict.DRIFT:
        return "False", evaluation.verdict, evaluation.summary()

    reason = Check(evaluation.drifting[0].name).drifting_reason
    held = _held_back(firings, policy)
    if held:
        return "True", reason, f"{evaluation.summary()} ({held})"
    firings.insert(0, _fire(outcome, policy, evaluation, production))
    status.window_start = at_second(now)
    return "True", reason, evaluation.summary()


def _held_back(firings: list[Firing], policy: PolicyInputs) -> str:
    """Why a drifting window does not fire now, or '' when it does."""
    if not firings:
        return ""
    last = firings[0]
    if last.outcome in IN_FLIGHT:
        return f"retraining {last.training_run or 'waiting for data'} is in flight"
    until = last.time + timedelta(seconds=parse_duration(policy.spec.cooldown))
    if policy.now < until:
        return f"in cooldown until {rfc3339(until)}"
    return ""


def _fire(outcome: Outcome, policy: PolicyInputs, evaluation: Evaluation, production: str) -> Firing:
    now, action = policy.now, policy.action
    firing = Firing(
        time=at_second(now), reason=evaluation.summary()[:1024], action=action.type, model_version=production
    )
    outcome.event("Warning", DRIFT_DETECTED, f"{production}: {evaluation.summary()}"[:1024])
    if action.retrain is None or action.type != "retrain":
        return firing
    cap = action.retrain.max_per_day
    started_today = [run for run in policy.observed.runs if run.created_at and now - run.created_at < DAY]
    if len(started_today) >= cap:
        message = f"not retrained: {cap} retrainings in the last 24h (maxPerDay)"
        outcome.event("Warning", RETRAIN_CAPPED, message)
        return firing.model_copy(update={"message": message})
    return start_retrain(outcome, firing, policy, action.retrain)


def _check_results(evaluation: Evaluation) -> list[CheckResult]:
    return [
        CheckResult(name=c.name, verdict=c.verdict, score=c.score, threshold=c.threshold, message=c.message[:1024])
        for c in evaluation.checks[:MAX_CHECKS]
    ]


def _feature_results(evaluation: Evaluation) -> list[FeatureResult]:
    """Drifted features first, then by score: what a person reads when the list is cut."""
    features = sorted(evaluation.features, key=lambda f: (not f.drifted, -(f.score or 0.0), f.feature))
    return [
        FeatureResult(name=f.feature, method=f.method, score=f.score, threshold=f.threshold, drifted=bool(f.drifted))
        for f in features[:MAX_FEATURES]
    ]
