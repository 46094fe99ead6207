"""DriftPolicy: judge the model's Production version on windows of live traffic, fire when it
drifts, and follow the retraining a firing starts through to its rollout.

A window starts when a version begins to be watched, after each firing, and when a full
`window.period` has passed; the policy evaluates it every `interval` until then. The pure
function here decides; the handler reads the counters (ballast.handlers.driftpolicy), keeps
the window's starting readings (ballast.drift.window_memory) and judges the window
(`evaluate_window`) before calling it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ballast.api.driftpolicy import (
    MIN_INTERVAL_SECONDS,
    DriftAction,
    DriftPolicySpec,
    DriftPolicyStatus,
    DriftWindow,
    RetrainAction,
)
from ballast.build.policy import Refusal
from ballast.build.retrain import FIRING_REASON_ANNOTATION, build_retrain_run, retrain_template_refusal
from ballast.conditions import ConditionStatus, rfc3339, set_condition
from ballast.drift import window_memory
from ballast.drift.counters import Window
from ballast.drift.evaluation import Evaluation, evaluate
from ballast.reasons.driftpolicy import (
    DRIFT_DETECTED,
    IN_FLIGHT,
    NO_PRODUCTION_VERSION,
    NOT_RETRAINED,
    PROMETHEUS_NO_DATA,
    RETRAIN_CAPPED,
    RETRAIN_FAILED,
    RETRAIN_PROMOTED,
    RETRAIN_REJECTED,
    RETRAIN_ROLLED_BACK,
    RETRAIN_STARTED,
    RUN_GATE_FAILED,
    WAITING_FOR_DATA,
    WATCHING,
    Check,
    FiringOutcome,
    RetrainResult,
    Verdict,
)
from ballast.reconcile.durations import parse_duration, parse_time
from ballast.reconcile.outcome import Outcome
from ballast.settings import Settings

MAX_CHECKS, MAX_FEATURES, MAX_FIRINGS = 16, 256, 20
DAY = timedelta(days=1)
OPERATOR_STATUS = "kopf"
"""kopf's own bookkeeping in status (ballast.api.crd): not part of the API's status model."""
ENDED_RETRAINS = {
    FiringOutcome.PROMOTED: RetrainResult.PROMOTED,
    FiringOutcome.NOT_PROMOTED: RetrainResult.REJECTED,
    FiringOutcome.ROLLED_BACK: RetrainResult.ROLLED_BACK,
    FiringOutcome.FAILED: RetrainResult.FAILED,
    FiringOutcome.MISSING: RetrainResult.FAILED,
}
"""How a retraining that ended is counted in ballast_retrains_total."""

ConditionValue = tuple[ConditionStatus, str, str]
"""(status, reason, message) of a condition to set."""


@dataclass(frozen=True)
class PolicyRun:
    """A TrainingRun this policy created, as the index sees it."""

    name: str
    created_at: datetime | None
    finished: bool = False
    succeeded: bool = False
    reason: str = ""
    message: str = ""
    model_version: str | None = None
    firing_reason: str = ""


@dataclass(frozen=True)
class DriftObservation:
    body: dict[str, Any]
    now: datetime
    production: dict[str, Any] | None
    """The model's Production ModelVersion (metadata, spec, status), if there is one."""
    evaluation: Evaluation | None = None
    """The current window judged (`evaluate_window`), when an evaluation was due and the counters could be read."""
    window_started_at: datetime | None = None
    window_problem: tuple[str, str] | None = None
    """(reason, message) when the counters could not be read."""
    runs: list[PolicyRun] = field(default_factory=list)
    dataset: dict[str, Any] | None = None
    """The Dataset the retrain template trains on (metadata, spec, status)."""
    stages: dict[str, str] = field(default_factory=dict)
    """The model's ModelVersions by name, with their stage."""
    settings: Settings = field(default_factory=Settings)
    """What the administrator allows a retrain template to run (custom images), and the shortest interval."""


@dataclass(frozen=True)
class _Policy:
    """One reconcile's inputs, parsed once."""

    observed: DriftObservation
    spec: DriftPolicySpec
    status: DriftPolicyStatus

    @property
    def now(self) -> datetime:
        return self.observed.now

    @property
    def action(self) -> DriftAction:
        return self.spec.action or DriftAction()

    @property
    def window(self) -> DriftWindow:
        return self.spec.window or DriftWindow()

    @property
    def template_refusal(self) -> Refusal | None:
        """Why the retrain template's run may not be created, if it may not: the operator creates
        it itself, so it must not carry an image or command the policy's author could not run."""
        if self.action.type != "retrain":
            return None
        return retrain_template_refusal(self.observed.body, self.observed.settings)


def parse_status(status: dict[str, Any] | None) -> DriftPolicyStatus:
    return DriftPolicyStatus.model_validate({k: v for k, v in (status or {}).items() if k != OPERATOR_STATUS})


def evaluate_window(spec: DriftPolicySpec, production: dict[str, Any] | None, window: Window) -> Evaluation:
    """The policy's checks on one window, against the accuracy the Production version trained to."""
    metrics = ((production or {}).get("status") or {}).get("metrics") or {}
    return evaluate(
        window,
        spec.checks,
        min_samples=(spec.window or DriftWindow()).min_samples,
        offline_accuracy=metrics.get("accuracy"),
    )


def evaluation_interval(spec: DriftPolicySpec, *, min_interval_seconds: float = MIN_INTERVAL_SECONDS) -> float:
    """The interval in seconds, floored at the operator's minimum, so an object admitted before
    the API's own minimum existed cannot read more often."""
    return max(parse_duration(spec.interval), min_interval_seconds)


def evaluation_due(
    status: DriftPolicyStatus,
    spec: DriftPolicySpec,
    now: datetime,
    production: str | None,
    *,
    min_interval_seconds: float = MIN_INTERVAL_SECONDS,
) -> bool:
    """Whether the counters are read now."""
    if production is None:
        return False
    if status.model_version != production or status.last_evaluation_time is None:
        return True
    elapsed = (now - status.last_evaluation_time).total_seconds()
    return elapsed >= evaluation_interval(spec, min_interval_seconds=min_interval_seconds)


def resumed_window_start(
    status: DriftPolicyStatus, spec: DriftPolicySpec, now: datetime, production: str
) -> datetime | None:
    """Where a window read from Prometheus resumes after an operator restart (status.windowStart)."""
    period = parse_duration((spec.window or DriftWindow()).period)
    return window_memory.resumed_start(status.model_version, status.window_start, production, now, period)


def reconcile_drift_policy(observed: DriftObservation) -> Outcome:
    body, now = observed.body, observed.now
    policy = _Policy(observed, DriftPolicySpec.model_validate(body["spec"]), parse_status(body.get("status")))
    raw_status = body.get("status") or {}
    generation = body["metadata"]["generation"]
    outcome = Outcome(status={"observedGeneration": generation})
    firings = _adopt_orphan_runs([dict(f) for f in raw_status.get("firings") or []], observed.runs)
    firings = _follow_retrains(outcome, firings, policy)

    production = (observed.production or {}).get("metadata", {}).get("name")
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
    conditions = raw_status.get("conditions")
    conditions = _set(conditions, "Drifting", drifting, generation, now)
    retraining = _retraining_condition(firings)
    if retraining is not None:
        conditions = _set(conditions, "Retraining", retraining, generation, now)
    outcome.status["conditions"] = _set(conditions, "Ready", ready, generation, now)
    if firings or raw_status.get("firings"):
        outcome.status["firings"] = firings[:MAX_FIRINGS]
    if production is not None:
        outcome.wake_at = _next_evaluation(policy, outcome)
    return outcome


def _nothing_to_watch(outcome: Outcome, policy: _Policy) -> tuple[ConditionValue, ConditionValue]:
    outcome.status["modelVersion"] = None
    message = f"model {policy.spec.model} has no Production version to watch"
    return ("Unknown", NO_PRODUCTION_VERSION, message), ("Unknown", NO_PRODUCTION_VERSION, message)


def _window_unread(
    outcome: Outcome, policy: _Policy, production: str, problem: tuple[str, str]
) -> tuple[ConditionValue, ConditionValue]:
    """The counters could not be read: said on Ready, and tried again at the next interval."""
    reason, message = problem
    outcome.status.update(modelVersion=production, lastEvaluationTime=rfc3339(policy.now))
    if reason == PROMETHEUS_NO_DATA:  # nothing counted in the window: unknown, not broken
        outcome.status.update(verdict=Verdict.NOT_ENOUGH_DATA, samples=0)
        return ("True", WATCHING, f"watching {production}"), ("Unknown", Verdict.NOT_ENOUGH_DATA, message)
    return ("False", reason, message), ("Unknown", reason, message)


def _watch(
    outcome: Outcome, firings: list[dict[str, Any]], policy: _Policy, production: str
) -> tuple[ConditionValue, ConditionValue]:
    observed, now = policy.observed, policy.now
    ready: ConditionValue = ("True", WATCHING, f"watching {production}")
    if observed.evaluation is None and observed.window_started_at != now:
        # nothing was read in this reconcile: what the last read found still stands
        ready = _current("Ready", policy.status) or ready
    drifting = _current("Drifting", policy.status) or ("Unknown", Verdict.NOT_ENOUGH_DATA, "no window evaluated yet")
    outcome.status["modelVersion"] = production
    if observed.window_started_at is not None:
        outcome.status["windowStart"] = rfc3339(observed.window_started_at)
    if observed.evaluation is not None:
        drifting = _judge(outcome, firings, policy, observed.evaluation, production)
    elif observed.window_started_at == now:
        # a window started: the first reading only sets its start, the next one judges it
        outcome.status["lastEvaluationTime"] = rfc3339(now)
        if policy.status.model_version != production:
            drifting = ("Unknown", Verdict.NOT_ENOUGH_DATA, f"a new window started on {production}")
            # the previous version's scores say nothing about this one
            outcome.status.update(verdict=Verdict.NOT_ENOUGH_DATA, samples=0, score=None, checks=[], features=[])
    return ready, drifting


def _set(
    conditions: list[dict[str, Any]] | None, type: str, value: ConditionValue, generation: int, now: datetime
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


def _current(type: str, status: DriftPolicyStatus) -> ConditionValue | None:
    found = next((c for c in status.conditions if c.type == type), None)
    return (found.status, found.reason, found.message) if found else None


def _next_evaluation(policy: _Policy, outcome: Outcome) -> datetime:
    """When the counters are read next: an interval after this reconcile's read, or after the
    last one. An evaluation that was due and not made (the namespace's other policies held the
    read slots) is tried again after the shortest interval. The cooldown's end needs no wake of
    its own: a firing happens only at an evaluation, which this already schedules."""
    floor = policy.observed.settings.drift_min_interval_seconds
    evaluated = policy.now if "lastEvaluationTime" in outcome.status else policy.status.last_evaluation_time
    if evaluated is None:
        return policy.now + timedelta(seconds=floor)
    due = evaluated + timedelta(seconds=evaluation_interval(policy.spec, min_interval_seconds=floor))
    return due if due > policy.now else policy.now + timedelta(seconds=floor)


# --- reading an Outcome: what the handler counts in the operator's metrics ----------------------


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
    return [
        ENDED_RETRAINS[FiringOutcome(firing["outcome"])]
        for firing in outcome.status.get("firings") or []
        if firing.get("trainingRun")
        # a run adopted in this very reconcile was Created a moment ago
        and was.get(firing["trainingRun"], FiringOutcome.CREATED) in IN_FLIGHT
        and firing.get("outcome") in ENDED_RETRAINS
    ]


# --- evaluation and firing ----------------------------------------------------------------


def _judge(
    outcome: Outcome, firings: list[dict[str, Any]], policy: _Policy, evaluation: Evaluation, production: str
) -> ConditionValue:
    now = policy.now
    outcome.status.update(
        lastEvaluationTime=rfc3339(now),
        verdict=evaluation.verdict,
        score=evaluation.max_feature_score,
        samples=int(evaluation.rows),
        checks=[
            _present(
                {
                    "name": c.name,
                    "verdict": c.verdict,
                    "score": c.score,
                    "threshold": c.threshold,
                    "message": c.message[:1024],
                }
            )
            for c in evaluation.checks
        ][:MAX_CHECKS],
        features=_feature_results(evaluation),
    )
    started = policy.observed.window_started_at or now
    if window_memory.period_over(started, now, parse_duration(policy.window.period)):
        outcome.status["windowStart"] = rfc3339(now)

    if evaluation.verdict == Verdict.NOT_ENOUGH_DATA:
        return "Unknown", Verdict.NOT_ENOUGH_DATA, f"{evaluation.rows:.0f} rows in the window: {evaluation.summary()}"
    if evaluation.verdict != Verdict.DRIFT:
        return "False", evaluation.verdict, evaluation.summary()

    reason = Check(evaluation.drifting[0].name).drifting_reason
    held = _held_back(firings, policy)
    if held:
        return "True", reason, f"{evaluation.summary()} ({held})"
    _fire(outcome, firings, policy, evaluation, production)
    outcome.status["windowStart"] = rfc3339(now)
    return "True", reason, evaluation.summary()


def _held_back(firings: list[dict[str, Any]], policy: _Policy) -> str:
    """Why a drifting window does not fire now, or '' when it does."""
    if firings and firings[0].get("outcome") in IN_FLIGHT:
        return f"retraining {firings[0].get('trainingRun') or 'waiting for data'} is in flight"
    if firings:
        until = parse_time(firings[0]["time"]) + timedelta(seconds=parse_duration(policy.spec.cooldown))
        if policy.now < until:
            return f"in cooldown until {rfc3339(until)}"
    return ""


def _fire(
    outcome: Outcome, firings: list[dict[str, Any]], policy: _Policy, evaluation: Evaluation, production: str
) -> None:
    now, action = policy.now, policy.action
    # message as the API server defaults it: a firing written without one comes back changed
    firing = {
        "time": rfc3339(now),
        "reason": evaluation.summary()[:1024],
        "action": action.type,
        "modelVersion": production,
        "message": "",
    }
    outcome.event("Warning", DRIFT_DETECTED, f"{production}: {evaluation.summary()}"[:1024])
    if action.retrain is not None and action.type == "retrain":
        cap = action.retrain.max_per_day
        started_today = [run for run in policy.observed.runs if run.created_at and now - run.created_at < DAY]
        if len(started_today) >= cap:
            firing["message"] = f"not retrained: {cap} retrainings in the last 24h (maxPerDay)"
            outcome.event("Warning", RETRAIN_CAPPED, firing["message"])
        else:
            _start_retrain(outcome, firing, policy, action.retrain)
    firings.insert(0, firing)


def _start_retrain(outcome: Outcome, firing: dict[str, Any], policy: _Policy, retrain: RetrainAction) -> None:
    """Create the run on the newest valid Dataset version, unless the champion was trained on
    that very version: then wait for new data (the same data would give the same model)."""
    observed = policy.observed
    refusal = policy.template_refusal
    if refusal is not None:
        firing |= {"outcome": FiringOutcome.FAILED, "message": f"not retrained: {refusal.message}"[:1024]}
        outcome.event("Warning", refusal.reason, firing["message"])
        return
    newest = _newest_valid_version(observed.dataset)
    champion_data = _champion_data(observed)
    dataset_name = retrain.template.spec.dataset_ref.name
    if newest is None or (champion_data.get("name") == dataset_name and champion_data.get("version") == newest):
        firing |= {
            "outcome": FiringOutcome.WAITING_FOR_DATA,
            "message": f"waiting for a version of Dataset {dataset_name} newer than "
            f"{(newest or 'none')[:12]}, which the Production version was trained on"
            if newest
            else f"waiting for a valid version of Dataset {dataset_name}",
        }
        outcome.event("Normal", WAITING_FOR_DATA, firing["message"])
        return
    run = build_retrain_run(observed.body, newest, parse_time(firing["time"]), firing["reason"])
    outcome.create_objects.append(("trainingruns", run))
    name = run["metadata"]["name"]
    firing |= {
        "trainingRun": name,
        "outcome": FiringOutcome.CREATED,
        "message": f"retraining on Dataset {dataset_name} version {newest[:12]}",
    }
    outcome.event(
        "Normal", RETRAIN_STARTED, f"created TrainingRun {name} on Dataset {dataset_name} version {newest[:12]}"
    )


def _champion_data(observed: DriftObservation) -> dict[str, Any]:
    """The Dataset (name, version) the Production version was trained on."""
    source = ((observed.production or {}).get("spec") or {}).get("source") or {}
    return source.get("dataset") or {}


def _newest_valid_version(dataset: dict[str, Any] | None) -> str | None:
    if not dataset:
        return None
    status = dataset.get("status") or {}
    latest = status.get("latestVersion")
    versions = {v.get("sha256"): v for v in status.get("versions") or []}
    version = versions.get(latest)
    return latest if version and version.get("valid") and version.get("snapshotUri") else None


def _feature_results(evaluation: Evaluation) -> list[dict[str, Any]]:
    """Drifted features first, then by score: what a person reads when the list is cut."""
    features = sorted(evaluation.features, key=lambda f: (not f.drifted, -(f.score or 0.0), f.feature))
    return [
        _present(
            {
                "name": f.feature,
                "method": f.method,
                "score": f.score,
                "threshold": f.threshold,
                "drifted": bool(f.drifted),
            }
        )
        for f in features[:MAX_FEATURES]
    ]


def _present(entry: dict[str, Any]) -> dict[str, Any]:
    """Without the unset fields: a null in a merge patch deletes, so status would never match."""
    return {key: value for key, value in entry.items() if value is not None}


# --- following retrainings ----------------------------------------------------------------


def _adopt_orphan_runs(firings: list[dict[str, Any]], runs: list[PolicyRun]) -> list[dict[str, Any]]:
    """A run whose firing never reached status (the operator died in between) is recorded
    now, so it is neither lost nor created a second time."""
    known = {firing.get("trainingRun") for firing in firings}
    orphans = sorted(
        ((run.created_at, run) for run in runs if run.name not in known and run.created_at is not None),
        key=lambda orphan: orphan[0],
    )
    newest_firing = max((parse_time(f["time"]) for f in firings), default=None)
    for created_at, run in orphans:
        if newest_firing is not None and created_at <= newest_firing:
            continue  # older than the history we keep: it was recorded once and cut since
        firings.insert(
            0,
            {
                "time": rfc3339(created_at),
                "reason": run.firing_reason[:1024] or "recovered",
                "action": "retrain",
                "trainingRun": run.name,
                "outcome": FiringOutcome.CREATED,
                "message": "",
            },
        )
    return firings


def _follow_retrains(outcome: Outcome, firings: list[dict[str, Any]], policy: _Policy) -> list[dict[str, Any]]:
    runs = {run.name: run for run in policy.observed.runs}
    followed = []
    for firing in firings:
        if firing.get("outcome") == FiringOutcome.WAITING_FOR_DATA and firing is firings[0]:
            firing = _retry_waiting(outcome, dict(firing), policy)
        if firing.get("outcome") in IN_FLIGHT and firing.get("trainingRun"):
            firing = _progress(outcome, dict(firing), runs.get(firing["trainingRun"]), policy)
        followed.append(firing)
    return followed


def _retry_waiting(outcome: Outcome, firing: dict[str, Any], policy: _Policy) -> dict[str, Any]:
    newest = _newest_valid_version(policy.observed.dataset)
    retrain = policy.action.retrain
    if retrain is not None and newest and _champion_data(policy.observed).get("version") != newest:
        _start_retrain(outcome, firing, policy, retrain)
    return firing


def _progress(outcome: Outcome, firing: dict[str, Any], run: PolicyRun | None, policy: _Policy) -> dict[str, Any]:
    if run is None:
        if firing.get("outcome") != FiringOutcome.CREATED:  # a new run may simply not be in the index yet
            firing |= {"outcome": FiringOutcome.MISSING, "message": f"TrainingRun {firing['trainingRun']} was deleted"}
        return firing
    if not run.finished:
        return firing | {"outcome": FiringOutcome.TRAINING, "message": f"TrainingRun {run.name} is training"}
    if not run.succeeded:
        rejected = run.reason == RUN_GATE_FAILED
        firing |= {
            "outcome": FiringOutcome.NOT_PROMOTED if rejected else FiringOutcome.FAILED,
            "message": f"{run.reason}: {run.message}"[:1024],
        }
        outcome.event(
            "Warning",
            RETRAIN_REJECTED if rejected else RETRAIN_FAILED,
            f"TrainingRun {run.name}: {run.reason}: {run.message}"[:1024],
        )
        return firing
    version = run.model_version
    stage = policy.observed.stages.get(version or "")
    if stage == "Production":
        firing |= {"outcome": FiringOutcome.PROMOTED, "message": f"{version} is in Production"}
        outcome.event("Normal", RETRAIN_PROMOTED, f"{version}, trained by {run.name}, is in Production")
    elif stage in ("RolledBack", "Failed", "Superseded"):
        firing |= {
            "outcome": FiringOutcome.ROLLED_BACK,
            "message": f"{version} ended {stage} without staying in Production",
        }
        outcome.event("Warning", RETRAIN_ROLLED_BACK, f"{version}, trained by {run.name}, ended {stage}")
    else:
        retrain = policy.action.retrain
        waiting = retrain is not None and retrain.promotion == "manual" and stage == "Canary"
        firing |= {
            "outcome": FiringOutcome.WAITING_FOR_APPROVAL if waiting else FiringOutcome.ROLLING_OUT,
            "message": f"{version} is {stage or 'registered'}"
            + ("; approve with spec.rollout.approved: true" if waiting else ""),
        }
    return firing


def _retraining_condition(firings: list[dict[str, Any]]) -> ConditionValue | None:
    retrains = [f for f in firings if f.get("action") == "retrain"]
    if not retrains:
        return None
    last = retrains[0]
    state = last.get("outcome") or NOT_RETRAINED
    return ("True" if state in IN_FLIGHT else "False"), state, last.get("message") or state


__all__ = [
    "DriftObservation",
    "PolicyRun",
    "evaluate_window",
    "evaluation_due",
    "fired_action",
    "parse_status",
    "reconcile_drift_policy",
    "resumed_window_start",
    "retrain_results",
    "window_restarted",
    "FIRING_REASON_ANNOTATION",
]
