"""The retrainings a DriftPolicy's firings start: creating the run, then following it and the
version it trains through to its rollout, one firing (status.firings[]) at a time."""

from __future__ import annotations

from ballast.api.driftpolicy import Firing, Promotion, RetrainAction
from ballast.api.kinds import TRAINING_RUN
from ballast.build.retrain import build_retrain_run
from ballast.conditions import at_second
from ballast.reasons.driftpolicy import (
    IN_FLIGHT,
    NOT_RETRAINED,
    RETRAIN_FAILED,
    RETRAIN_PROMOTED,
    RETRAIN_REJECTED,
    RETRAIN_ROLLED_BACK,
    RETRAIN_STARTED,
    WAITING_FOR_DATA,
    FiringOutcome,
)
from ballast.reasons.modelversion import Stage
from ballast.reasons.trainingrun import TrainingRunReason
from ballast.reconcile.driftpolicy_inputs import ConditionValue, PolicyInputs, PolicyRun
from ballast.reconcile.outcome import Outcome

ENDED_STAGES = frozenset({Stage.ROLLED_BACK, Stage.FAILED, Stage.SUPERSEDED})
"""Stages a retrained version ends in when it did not stay in Production."""


def start_retrain(outcome: Outcome, firing: Firing, policy: PolicyInputs, retrain: RetrainAction) -> Firing:
    """Create the run on the newest valid Dataset version, unless the champion was trained on
    that very version: then wait for new data (the same data would give the same model)."""
    refusal = policy.template_refusal
    if refusal is not None:
        message = f"not retrained: {refusal.message}"[:1024]
        outcome.event("Warning", refusal.reason, message)
        return firing.model_copy(update={"outcome": FiringOutcome.FAILED, "message": message})
    newest, champion = policy.newest_data, policy.champion_data
    dataset_name = retrain.template.spec.dataset_ref.name
    if newest is None or (champion is not None and champion.name == dataset_name and champion.version == newest):
        message = (
            f"waiting for a version of Dataset {dataset_name} newer than "
            f"{(newest or 'none')[:12]}, which the Production version was trained on"
            if newest
            else f"waiting for a valid version of Dataset {dataset_name}"
        )
        outcome.event("Normal", WAITING_FOR_DATA, message)
        return firing.model_copy(update={"outcome": FiringOutcome.WAITING_FOR_DATA, "message": message})
    run = build_retrain_run(policy.observed.body, newest, firing.time, firing.reason)
    outcome.create_objects.append((TRAINING_RUN.plural, run))
    name = run["metadata"]["name"]
    outcome.event(
        "Normal", RETRAIN_STARTED, f"created TrainingRun {name} on Dataset {dataset_name} version {newest[:12]}"
    )
    return firing.model_copy(
        update={
            "training_run": name,
            "outcome": FiringOutcome.CREATED,
            "message": f"retraining on Dataset {dataset_name} version {newest[:12]}",
        }
    )


def adopt_orphan_runs(firings: list[Firing], runs: list[PolicyRun]) -> list[Firing]:
    """A run whose firing never reached status (the operator died in between) is recorded
    now, so it is neither lost nor created a second time."""
    known = {firing.training_run for firing in firings}
    newest_firing = max((firing.time for firing in firings), default=None)
    orphans = sorted(
        (
            (run.created_at, run)
            for run in runs
            if run.name not in known
            and run.created_at is not None
            # older than the history we keep: it was recorded once and cut since
            and (newest_firing is None or run.created_at > newest_firing)
        ),
        key=lambda orphan: orphan[0],
    )
    adopted = [
        Firing(
            time=at_second(created_at),
            reason=run.firing_reason[:1024] or "recovered",
            action="retrain",
            training_run=run.name,
            outcome=FiringOutcome.CREATED,
        )
        for created_at, run in reversed(orphans)  # newest first, as status keeps them
    ]
    return adopted + firings


def follow_retrains(outcome: Outcome, firings: list[Firing], policy: PolicyInputs) -> list[Firing]:
    runs = {run.name: run for run in policy.observed.runs}
    followed = []
    for index, firing in enumerate(firings):
        if firing.outcome == FiringOutcome.WAITING_FOR_DATA and index == 0:
            firing = _retry_waiting(outcome, firing, policy)
        if firing.outcome in IN_FLIGHT and firing.training_run:
            firing = _progress(outcome, firing, runs.get(firing.training_run), policy)
        followed.append(firing)
    return followed


def retraining_condition(firings: list[Firing]) -> ConditionValue | None:
    """The Retraining condition: where the last retrain firing stands; none before the first."""
    last = next((firing for firing in firings if firing.action == "retrain"), None)
    if last is None:
        return None
    state = last.outcome or NOT_RETRAINED
    return ("True" if state in IN_FLIGHT else "False"), state, last.message or state


def _retry_waiting(outcome: Outcome, firing: Firing, policy: PolicyInputs) -> Firing:
    newest, champion, retrain = policy.newest_data, policy.champion_data, policy.action.retrain
    if retrain is not None and newest and (champion is None or champion.version != newest):
        return start_retrain(outcome, firing, policy, retrain)
    return firing


def _progress(outcome: Outcome, firing: Firing, run: PolicyRun | None, policy: PolicyInputs) -> Firing:
    if run is None:
        if firing.outcome == FiringOutcome.CREATED:  # a new run may simply not be in the index yet
            return firing
        return _with(firing, FiringOutcome.MISSING, f"TrainingRun {firing.training_run} was deleted")
    if not run.finished:
        return _with(firing, FiringOutcome.TRAINING, f"TrainingRun {run.name} is training")
    if not run.succeeded:
        rejected = run.reason == TrainingRunReason.GATE_FAILED  # trained, but did not beat the champion
        outcome.event(
            "Warning",
            RETRAIN_REJECTED if rejected else RETRAIN_FAILED,
            f"TrainingRun {run.name}: {run.reason}: {run.message}"[:1024],
        )
        return _with(
            firing,
            FiringOutcome.NOT_PROMOTED if rejected else FiringOutcome.FAILED,
            f"{run.reason}: {run.message}"[:1024],
        )
    version = run.model_version
    stage = policy.observed.stages.get(version or "")
    if stage == Stage.PRODUCTION:
        outcome.event("Normal", RETRAIN_PROMOTED, f"{version}, trained by {run.name}, is in Production")
        return _with(firing, FiringOutcome.PROMOTED, f"{version} is in Production")
    if stage in ENDED_STAGES:
        outcome.event("Warning", RETRAIN_ROLLED_BACK, f"{version}, trained by {run.name}, ended {stage}")
        return _with(firing, FiringOutcome.ROLLED_BACK, f"{version} ended {stage} without staying in Production")
    retrain = policy.action.retrain
    waiting = retrain is not None and retrain.promotion == Promotion.MANUAL and stage == Stage.CANARY
    return _with(
        firing,
        FiringOutcome.WAITING_FOR_APPROVAL if waiting else FiringOutcome.ROLLING_OUT,
        f"{version} is {stage or 'registered'}" + ("; approve with spec.rollout.approved: true" if waiting else ""),
    )


def _with(firing: Firing, outcome: FiringOutcome, message: str) -> Firing:
    return firing.model_copy(update={"outcome": outcome, "message": message})
