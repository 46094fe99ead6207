"""DriftPolicy: judge the model's Production version on windows of live traffic, fire when it
drifts, and follow the retraining a firing starts through to its rollout.

A window starts when a version begins to be watched, after each firing, and when a full
`window.period` has passed; the policy evaluates it every `interval` until then. The pure
function here decides; the handler reads the counters (ballast.handlers.driftpolicy) and
keeps the window's starting readings in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ballast.api.driftpolicy import MIN_INTERVAL_SECONDS, DriftChecks
from ballast.build.policy import Refusal
from ballast.build.retrain import FIRING_REASON_ANNOTATION, build_retrain_run, retrain_template_refusal
from ballast.conditions import find_condition, rfc3339, set_condition
from ballast.drift.counters import Window
from ballast.drift.evaluation import Evaluation, evaluate
from ballast.reasons.driftpolicy import Verdict
from ballast.reconcile.durations import parse_duration, parse_time
from ballast.reconcile.outcome import Outcome
from ballast.settings import Settings

DRIFT, NOT_ENOUGH_DATA = Verdict.DRIFT, Verdict.NOT_ENOUGH_DATA
MAX_CHECKS, MAX_FEATURES, MAX_FIRINGS = 16, 256, 20
IN_FLIGHT = frozenset({"WaitingForData", "Created", "Training", "RollingOut", "WaitingForApproval"})
DAY = timedelta(days=1)
NO_DATA = "PrometheusNoData"


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
    body: dict
    now: datetime
    production: dict | None
    """The model's Production ModelVersion (metadata, spec, status), if there is one."""
    window: Window | None = None
    """The current window's counters, when an evaluation is due and they could be read."""
    window_started_at: datetime | None = None
    window_problem: tuple[str, str] | None = None
    """(reason, message) when the counters could not be read."""
    runs: list[PolicyRun] = field(default_factory=list)
    dataset: dict | None = None
    """The Dataset the retrain template trains on (metadata, spec, status)."""
    stages: dict[str, str] = field(default_factory=dict)
    """The model's ModelVersions by name, with their stage."""
    settings: Settings = field(default_factory=Settings)
    """What the administrator allows a retrain template to run (custom images)."""

    @property
    def template_refusal(self) -> Refusal | None:
        """Why the retrain template's run may not be created, if it may not: the operator creates
        it itself, so it must not carry an image or command the policy's author could not run."""
        if ((self.body["spec"].get("action") or {}).get("type")) != "retrain":
            return None
        return retrain_template_refusal(self.body, self.settings)


@dataclass
class DriftDecision:
    outcome: Outcome
    evaluation: Evaluation | None = None
    fired_action: str | None = None
    restart_window: bool = False
    retrain_results: list[str] = field(default_factory=list)
    """Retrainings that ended in this reconcile: promoted, rejected, rolledBack or failed."""


def evaluation_due(
    status: dict,
    spec: dict,
    now: datetime,
    production: str | None,
    *,
    min_interval_seconds: float = MIN_INTERVAL_SECONDS,
) -> bool:
    """Whether the counters are read now. The interval is floored at the operator's minimum, so
    an object admitted before the API's own minimum existed cannot read more often."""
    if production is None:
        return False
    if status.get("modelVersion") != production or not status.get("lastEvaluationTime"):
        return True
    elapsed = (now - parse_time(status["lastEvaluationTime"])).total_seconds()
    return elapsed >= max(parse_duration(spec.get("interval") or "5m"), min_interval_seconds)


def resumed_window_start(status: dict, spec: dict, now: datetime, production: str) -> datetime | None:
    """Where a window read from Prometheus resumes when the operator has lost its memory (a
    restart): Prometheus kept the counts and status kept the start. A start more than a
    period back resumes one period back, so the next evaluation judges a full window."""
    if status.get("modelVersion") != production or not status.get("windowStart"):
        return None
    period = timedelta(seconds=parse_duration((spec.get("window") or {}).get("period") or "1h"))
    return min(max(parse_time(status["windowStart"]), now - period), now)


def reconcile_drift_policy(observed: DriftObservation) -> DriftDecision:
    body, now = observed.body, observed.now
    spec, status = body["spec"], body.get("status") or {}
    generation = body["metadata"]["generation"]
    decision = DriftDecision(Outcome(status={"observedGeneration": generation}))
    outcome = decision.outcome
    firings = _adopt_orphan_runs([dict(f) for f in status.get("firings") or []], observed.runs)
    firings = _follow_retrains(decision, firings, observed)

    conditions = status.get("conditions")
    production = (observed.production or {}).get("metadata", {}).get("name")
    if production is None:
        ready = ("Unknown", "NoProductionVersion", f"model {spec['model']} has no Production version to watch")
        drifting = ("Unknown", "NoProductionVersion", ready[2])
        outcome.status["modelVersion"] = None
    elif observed.window_problem is not None:
        reason, message = observed.window_problem
        outcome.status.update(modelVersion=production, lastEvaluationTime=rfc3339(now))  # retried next interval
        if reason == NO_DATA:  # nothing counted in the window: unknown, not broken
            ready, drifting = ("True", "Watching", f"watching {production}"), ("Unknown", NOT_ENOUGH_DATA, message)
            outcome.status.update(verdict=NOT_ENOUGH_DATA, samples=0)
        else:
            ready, drifting = ("False", reason, message), ("Unknown", reason, message)
    else:
        ready = ("True", "Watching", f"watching {production}")
        if observed.window is None and observed.window_started_at != now:
            # nothing was read in this reconcile: what the last read found still stands
            ready = _current_ready(conditions) or ready
        drifting = _current_drifting(conditions)
        outcome.status["modelVersion"] = production
        if observed.window_started_at is not None:
            outcome.status["windowStart"] = rfc3339(observed.window_started_at)
        if observed.window is not None:
            drifting = _evaluate(decision, firings, observed)
        elif observed.window_started_at == now:
            # a window started: the first reading only sets its start, the next one judges it
            outcome.status["lastEvaluationTime"] = rfc3339(now)
            if status.get("modelVersion") != production:
                drifting = ("Unknown", NOT_ENOUGH_DATA, f"a new window started on {production}")
                # the previous version's scores say nothing about this one
                outcome.status.update(verdict=NOT_ENOUGH_DATA, samples=0, score=None, checks=[], features=[])

    refusal = observed.template_refusal
    if refusal is not None:
        # said at once, not only when the policy first fires: drift is still judged and reported
        ready = ("False", refusal.reason, refusal.message)
    stamp = rfc3339(now)
    conditions = set_condition(
        conditions,
        type="Drifting",
        status=drifting[0],
        reason=drifting[1],
        message=drifting[2][:1024],
        observed_generation=generation,
        now=stamp,
    )
    retraining = _retraining_condition(firings)
    if retraining is not None:
        conditions = set_condition(
            conditions,
            type="Retraining",
            status=retraining[0],
            reason=retraining[1],
            message=retraining[2][:1024],
            observed_generation=generation,
            now=stamp,
        )
    outcome.status["conditions"] = set_condition(
        conditions,
        type="Ready",
        status=ready[0],
        reason=ready[1],
        message=ready[2][:1024],
        observed_generation=generation,
        now=stamp,
    )
    if firings or status.get("firings"):
        outcome.status["firings"] = firings[:MAX_FIRINGS]
    return decision


def _current_ready(conditions: list | None) -> tuple[str, str, str] | None:
    current = find_condition(conditions, "Ready")
    return (current["status"], current["reason"], current.get("message") or "") if current else None


def _current_drifting(conditions: list | None) -> tuple[str, str, str]:
    current = find_condition(conditions, "Drifting")
    if current is None:
        return "Unknown", NOT_ENOUGH_DATA, "no window evaluated yet"
    return current["status"], current["reason"], current.get("message") or ""


# --- evaluation and firing ----------------------------------------------------------------


def _evaluate(decision: DriftDecision, firings: list[dict], observed: DriftObservation) -> tuple[str, str, str]:
    spec, now = observed.body["spec"], observed.now
    window_spec = spec.get("window") or {}
    metrics = ((observed.production or {}).get("status") or {}).get("metrics") or {}
    evaluation = evaluate(
        observed.window,
        DriftChecks.model_validate(spec.get("checks") or {}),
        min_samples=window_spec.get("minSamples", 500),
        offline_accuracy=metrics.get("accuracy"),
    )
    decision.evaluation = evaluation
    outcome = decision.outcome
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
    started = observed.window_started_at or now
    if (now - started).total_seconds() >= parse_duration(window_spec.get("period") or "1h"):
        decision.restart_window = True

    if evaluation.verdict == NOT_ENOUGH_DATA:
        return "Unknown", NOT_ENOUGH_DATA, f"{evaluation.rows:.0f} rows in the window: {evaluation.summary()}"
    if evaluation.verdict != DRIFT:
        return "False", evaluation.verdict, evaluation.summary()

    reason = _reason(evaluation)
    held = _held_back(firings, observed)
    if held:
        return "True", reason, f"{evaluation.summary()} ({held})"
    _fire(decision, firings, observed, evaluation)
    decision.restart_window = True
    return "True", reason, evaluation.summary()


def _reason(evaluation: Evaluation) -> str:
    first = evaluation.drifting[0].name
    return first[0].upper() + first[1:]  # featureDrift -> FeatureDrift


def _held_back(firings: list[dict], observed: DriftObservation) -> str:
    """Why a drifting window does not fire now, or '' when it does."""
    spec, now = observed.body["spec"], observed.now
    if firings and firings[0].get("outcome") in IN_FLIGHT:
        return f"retraining {firings[0].get('trainingRun') or 'waiting for data'} is in flight"
    if firings:
        until = parse_time(firings[0]["time"]) + timedelta(seconds=parse_duration(spec.get("cooldown") or "1h"))
        if now < until:
            return f"in cooldown until {rfc3339(until)}"
    return ""


def _fire(decision: DriftDecision, firings: list[dict], observed: DriftObservation, evaluation: Evaluation) -> None:
    spec, now, outcome = observed.body["spec"], observed.now, decision.outcome
    action = (spec.get("action") or {}).get("type", "notify")
    production = observed.production["metadata"]["name"]
    # message as the API server defaults it: a firing written without one comes back changed
    firing = {
        "time": rfc3339(now),
        "reason": evaluation.summary()[:1024],
        "action": action,
        "modelVersion": production,
        "message": "",
    }
    decision.fired_action = action
    outcome.event("Warning", "DriftDetected", f"{production}: {evaluation.summary()}"[:1024])
    if action == "retrain":
        retrain = spec["action"]["retrain"]
        cap = retrain.get("maxPerDay", 3)
        started_today = [run for run in observed.runs if run.created_at and now - run.created_at < DAY]
        if len(started_today) >= cap:
            firing["message"] = f"not retrained: {cap} retrainings in the last 24h (maxPerDay)"
            outcome.event("Warning", "RetrainCapped", firing["message"])
        else:
            _start_retrain(decision, firing, observed)
    firings.insert(0, firing)


def _start_retrain(decision: DriftDecision, firing: dict, observed: DriftObservation) -> None:
    """Create the run on the newest valid Dataset version, unless the champion was trained on
    that very version: then wait for new data (the same data would give the same model)."""
    refusal = observed.template_refusal
    if refusal is not None:
        firing |= {"outcome": "Failed", "message": f"not retrained: {refusal.message}"[:1024]}
        decision.outcome.event("Warning", refusal.reason, firing["message"])
        return
    newest = _newest_valid_version(observed.dataset)
    template = observed.body["spec"]["action"]["retrain"]["template"]
    source = ((observed.production or {}).get("spec") or {}).get("source") or {}
    champion_data = source.get("dataset") or {}
    dataset_name = template["spec"]["datasetRef"]["name"]
    if newest is None or (champion_data.get("name") == dataset_name and champion_data.get("version") == newest):
        firing |= {
            "outcome": "WaitingForData",
            "message": f"waiting for a version of Dataset {dataset_name} newer than "
            f"{(newest or 'none')[:12]}, which the Production version was trained on"
            if newest
            else f"waiting for a valid version of Dataset {dataset_name}",
        }
        decision.outcome.event("Normal", "WaitingForData", firing["message"])
        return
    run = build_retrain_run(observed.body, newest, parse_time(firing["time"]), firing["reason"])
    decision.outcome.create_objects.append(("trainingruns", run))
    name = run["metadata"]["name"]
    firing |= {
        "trainingRun": name,
        "outcome": "Created",
        "message": f"retraining on Dataset {dataset_name} version {newest[:12]}",
    }
    decision.outcome.event(
        "Normal", "RetrainStarted", f"created TrainingRun {name} on Dataset {dataset_name} version {newest[:12]}"
    )


def _newest_valid_version(dataset: dict | None) -> str | None:
    if not dataset:
        return None
    status = dataset.get("status") or {}
    latest = status.get("latestVersion")
    versions = {v.get("sha256"): v for v in status.get("versions") or []}
    version = versions.get(latest)
    return latest if version and version.get("valid") and version.get("snapshotUri") else None


def _feature_results(evaluation: Evaluation) -> list[dict]:
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


def _present(entry: dict) -> dict:
    """Without the unset fields: a null in a merge patch deletes, so status would never match."""
    return {key: value for key, value in entry.items() if value is not None}


# --- following retrainings ----------------------------------------------------------------


def _adopt_orphan_runs(firings: list[dict], runs: list[PolicyRun]) -> list[dict]:
    """A run whose firing never reached status (the operator died in between) is recorded
    now, so it is neither lost nor created a second time."""
    known = {firing.get("trainingRun") for firing in firings}
    orphans = [run for run in runs if run.name not in known and run.created_at is not None]
    newest_firing = max((parse_time(f["time"]) for f in firings), default=None)
    for run in sorted(orphans, key=lambda r: r.created_at):
        if newest_firing is not None and run.created_at <= newest_firing:
            continue  # older than the history we keep: it was recorded once and cut since
        firings.insert(
            0,
            {
                "time": rfc3339(run.created_at),
                "reason": run.firing_reason[:1024] or "recovered",
                "action": "retrain",
                "trainingRun": run.name,
                "outcome": "Created",
                "message": "",
            },
        )
    return firings


def _follow_retrains(decision: DriftDecision, firings: list[dict], observed: DriftObservation) -> list[dict]:
    runs = {run.name: run for run in observed.runs}
    followed = []
    for firing in firings:
        if firing.get("outcome") == "WaitingForData" and firing is firings[0]:
            firing = _retry_waiting(decision, dict(firing), observed)
        if firing.get("outcome") in IN_FLIGHT and firing.get("trainingRun"):
            firing = _progress(decision, dict(firing), runs.get(firing["trainingRun"]), observed)
        followed.append(firing)
    return followed


def _retry_waiting(decision: DriftDecision, firing: dict, observed: DriftObservation) -> dict:
    newest = _newest_valid_version(observed.dataset)
    source = ((observed.production or {}).get("spec") or {}).get("source") or {}
    if newest and (source.get("dataset") or {}).get("version") != newest:
        _start_retrain(decision, firing, observed)
    return firing


def _progress(decision: DriftDecision, firing: dict, run: PolicyRun | None, observed: DriftObservation) -> dict:
    outcome = decision.outcome
    if run is None:
        if firing.get("outcome") != "Created":  # a new run may simply not be in the index yet
            firing |= {"outcome": "Missing", "message": f"TrainingRun {firing['trainingRun']} was deleted"}
            decision.retrain_results.append("failed")
        return firing
    if not run.finished:
        return firing | {"outcome": "Training", "message": f"TrainingRun {run.name} is training"}
    if not run.succeeded:
        rejected = run.reason == "GateFailed"
        firing |= {"outcome": "NotPromoted" if rejected else "Failed", "message": f"{run.reason}: {run.message}"[:1024]}
        decision.retrain_results.append("rejected" if rejected else "failed")
        outcome.event(
            "Warning",
            "RetrainRejected" if rejected else "RetrainFailed",
            f"TrainingRun {run.name}: {run.reason}: {run.message}"[:1024],
        )
        return firing
    version = run.model_version
    stage = observed.stages.get(version or "")
    if stage == "Production":
        firing |= {"outcome": "Promoted", "message": f"{version} is in Production"}
        decision.retrain_results.append("promoted")
        outcome.event("Normal", "RetrainPromoted", f"{version}, trained by {run.name}, is in Production")
    elif stage in ("RolledBack", "Failed", "Superseded"):
        firing |= {"outcome": "RolledBack", "message": f"{version} ended {stage} without staying in Production"}
        decision.retrain_results.append("rolledBack")
        outcome.event("Warning", "RetrainRolledBack", f"{version}, trained by {run.name}, ended {stage}")
    else:
        manual = ((observed.body["spec"].get("action") or {}).get("retrain") or {}).get("promotion") == "manual"
        waiting = manual and stage == "Canary"
        firing |= {
            "outcome": "WaitingForApproval" if waiting else "RollingOut",
            "message": f"{version} is {stage or 'registered'}"
            + ("; approve with spec.rollout.approved: true" if waiting else ""),
        }
    return firing


def _retraining_condition(firings: list[dict]) -> tuple[str, str, str] | None:
    retrains = [f for f in firings if f.get("action") == "retrain"]
    if not retrains:
        return None
    last = retrains[0]
    state = last.get("outcome") or "NotRetrained"
    return ("True" if state in IN_FLIGHT else "False"), state, last.get("message") or state


__all__ = [
    "DriftObservation",
    "PolicyRun",
    "DriftDecision",
    "evaluation_due",
    "reconcile_drift_policy",
    "FIRING_REASON_ANNOTATION",
]
