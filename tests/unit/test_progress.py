"""Reconciling and Stalled per kind and state: what kstatus (and Flux, kpt) reads from them."""

from datetime import UTC, datetime

import pytest

from ballast.api.dataset import DatasetStatus, DatasetVersion, IngestRun
from ballast.api.driftpolicy import CheckResult
from ballast.conditions import Progress, Standing, find_condition, set_progress
from ballast.reasons.driftpolicy import Check, Verdict
from ballast.reasons.trainingrun import RunPhase
from ballast.reconcile.progress import (
    dataset_standing,
    drift_policy_standing,
    finished_run_phase,
    model_version_standing,
    run_standing,
)

T0, T1 = "2026-01-01T00:00:00Z", "2026-01-01T00:05:00Z"
STARTED = datetime(2026, 1, 1, tzinfo=UTC)
VALID = DatasetVersion(sha256="a" * 64, rows=10, created_at=STARTED, valid=True, snapshot_uri="file:///s")
INVALID = DatasetVersion(sha256="b" * 64, rows=3, created_at=STARTED, valid=False, violations=["age < 0"])


def progress(conditions: list[dict]) -> tuple[str, str]:
    return find_condition(conditions, "Reconciling")["status"], find_condition(conditions, "Stalled")["status"]


# ---- set_progress ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "expected"),
    [(Progress.WORKING, ("True", "False")), (Progress.DONE, ("False", "False")), (Progress.FAILED, ("False", "True"))],
)
def test_each_progress_is_one_pair_of_conditions_never_both_true(state, expected):
    conditions = set_progress([], Standing(state, "Why", "what"), observed_generation=2, now=T0)
    assert progress(conditions) == expected
    assert all(c["reason"] == "Why" and c["observedGeneration"] == 2 for c in conditions)


def test_only_the_true_condition_carries_the_message():
    conditions = set_progress(
        [], Standing(Progress.FAILED, "GateFailed", "accuracy 0.5 < 0.9"), observed_generation=1, now=T0
    )
    assert find_condition(conditions, "Stalled")["message"] == "accuracy 0.5 < 0.9"
    assert find_condition(conditions, "Reconciling")["message"] == ""


def test_a_flip_moves_only_the_flipped_conditions_transition_time():
    working = set_progress([], Standing(Progress.WORKING, "Training"), observed_generation=1, now=T0)
    failed = set_progress(working, Standing(Progress.FAILED, "GateFailed"), observed_generation=1, now=T1)
    assert find_condition(failed, "Reconciling")["lastTransitionTime"] == T1
    assert find_condition(failed, "Stalled")["lastTransitionTime"] == T1
    again = set_progress(failed, Standing(Progress.FAILED, "GateFailed"), observed_generation=1, now="later")
    assert again == failed


def test_other_conditions_are_kept():
    ready = {"type": "Ready", "status": "True", "reason": "Trained", "message": "", "lastTransitionTime": T0}
    conditions = set_progress([ready], Standing(Progress.DONE, "Trained"), observed_generation=1, now=T1)
    assert conditions[0] == ready and [c["type"] for c in conditions] == ["Ready", "Reconciling", "Stalled"]


# ---- Dataset --------------------------------------------------------------------------------


def ingest(*, generation=1, refresh=0, finished=True, succeeded=True, reason=None, message=None) -> IngestRun:
    return IngestRun(
        job_name="ds-ingest-1-0",
        generation=generation,
        refresh=refresh,
        started_at=STARTED,
        finished_at=STARTED if finished else None,
        succeeded=succeeded if finished else None,
        reason=reason,
        message=message,
    )


def dataset(run: IngestRun | None, versions=(), latest: str | None = None) -> DatasetStatus:
    return DatasetStatus(ingest=run, versions=list(versions), latest_version=latest, latest_rows=10 if latest else None)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (dataset(None), (Progress.WORKING, "Ingesting")),
        (dataset(ingest(finished=False)), (Progress.WORKING, "Ingesting")),
        (dataset(ingest(), [VALID], VALID.sha256), (Progress.DONE, "VersionAvailable")),
        (dataset(ingest(succeeded=False, reason="SourceNotFound", message="404")), (Progress.FAILED, "SourceNotFound")),
        (dataset(ingest(succeeded=False)), (Progress.FAILED, "IngestFailed")),
        (dataset(ingest(), [INVALID]), (Progress.FAILED, "InvalidData")),
        # a new spec: its ingest is the work, and its failure a failure, whatever an older spec gave
        (dataset(ingest(generation=2, finished=False), [VALID], VALID.sha256), (Progress.WORKING, "Ingesting")),
        (
            dataset(ingest(generation=2, succeeded=False, reason="EgressDenied"), [VALID], VALID.sha256),
            (Progress.FAILED, "EgressDenied"),
        ),
        (dataset(ingest(generation=2), [INVALID, VALID], VALID.sha256), (Progress.FAILED, "InvalidData")),
        # a refresh beside a valid version is routine: running or failed, the Dataset is as declared
        (
            dataset(ingest(generation=2, refresh=3, finished=False), [VALID], VALID.sha256),
            (Progress.DONE, "Refreshing"),
        ),
        (
            dataset(ingest(generation=2, refresh=3, succeeded=False), [VALID], VALID.sha256),
            (Progress.DONE, "VersionAvailable"),
        ),
        (dataset(ingest(generation=2, refresh=3), [INVALID, VALID], VALID.sha256), (Progress.DONE, "VersionAvailable")),
        # ... but not before a first valid version
        (dataset(ingest(refresh=3, finished=False)), (Progress.WORKING, "Ingesting")),
        (dataset(ingest(refresh=3, succeeded=False)), (Progress.FAILED, "IngestFailed")),
    ],
)
def test_dataset(status, expected):
    # the reconcile starts an ingest for every new spec, so the newest ingest is of the spec as it is
    standing = dataset_standing(status, generation=status.ingest.generation if status.ingest else 1)
    assert (standing.progress, standing.reason) == expected


def test_a_failed_ingest_says_why():
    standing = dataset_standing(dataset(ingest(succeeded=False, reason="SourceNotFound", message="404")), 1)
    assert standing.message == "404"
    assert dataset_standing(dataset(ingest(), [INVALID]), 1).message == "age < 0"


# ---- TrainingRun ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phase", "expected"),
    [
        (RunPhase.RUNNING, Progress.WORKING),
        (RunPhase.WAITING, Progress.WORKING),
        (RunPhase.SUCCEEDED, Progress.DONE),
        (RunPhase.FAILED, Progress.FAILED),
    ],
)
def test_training_run(phase, expected):
    assert run_standing(phase, "Reason", "m") == Standing(expected, "Reason", "m")


def test_a_finished_runs_phase_comes_from_succeeded():
    assert finished_run_phase("True") is RunPhase.SUCCEEDED
    assert finished_run_phase("False") is RunPhase.FAILED


# ---- ModelVersion ---------------------------------------------------------------------------

VERIFIED = ("Verified", "sha256 matches")


@pytest.mark.parametrize(
    ("ready", "reason", "expected"),
    [
        ("True", "Registered", Progress.DONE),
        ("True", "Serving", Progress.DONE),
        ("True", "Superseded", Progress.DONE),
        ("Unknown", "Queued", Progress.WORKING),
        ("Unknown", "Deploying", Progress.WORKING),
        ("Unknown", "Canary", Progress.WORKING),
        ("Unknown", "AwaitingApproval", Progress.WORKING),
        ("Unknown", "RollingBack", Progress.WORKING),
        ("Unknown", "PodCannotStart", Progress.WORKING),
        ("False", "ReplicasUnavailable", Progress.WORKING),
        ("False", "RolledBack", Progress.FAILED),
        ("False", "ModelRefused", Progress.FAILED),
    ],
)
def test_model_version_with_a_verified_artifact(ready, reason, expected):
    standing = model_version_standing(ready, reason, "m", verified=True, verification=VERIFIED)
    assert (standing.progress, standing.reason) == (expected, reason)


@pytest.mark.parametrize("ready", ["True", "False", "Unknown"])
def test_a_model_version_whose_artifact_fails_verification_has_failed_whatever_ready_says(ready):
    standing = model_version_standing(
        ready, "Serving", "m", verified=False, verification=("ArtifactMissing", "no object at s3://b/k")
    )
    assert standing == Standing(Progress.FAILED, "ArtifactMissing", "no object at s3://b/k")


# ---- DriftPolicy ----------------------------------------------------------------------------


def check(verdict: Verdict, message: str = "") -> CheckResult:
    return CheckResult(name=Check.FEATURE_DRIFT, verdict=verdict, message=message)


@pytest.mark.parametrize(
    ("ready", "reason", "verdict", "expected"),
    [
        ("True", "Watching", Verdict.NO_DRIFT, Progress.DONE),
        ("True", "Watching", Verdict.NOT_ENOUGH_DATA, Progress.DONE),
        ("True", "Watching", None, Progress.DONE),
        # drift is the policy's finding, not its failure
        ("True", "Watching", Verdict.DRIFT, Progress.DONE),
        ("Unknown", "NoProductionVersion", None, Progress.WORKING),
        ("False", "PrometheusUnreachable", None, Progress.FAILED),
        ("False", "ImageNotAllowed", Verdict.DRIFT, Progress.FAILED),
    ],
)
def test_drift_policy(ready, reason, verdict, expected):
    checks = [check(verdict)] if verdict else []
    standing = drift_policy_standing(ready, reason, "m", verdict=verdict, checks=checks)
    assert (standing.progress, standing.reason) == (expected, reason)


def test_a_drift_policy_whose_checks_all_fail_outright_has_failed_and_says_which():
    checks = [check(Verdict.ERROR, "the server exports no reference"), check(Verdict.NOT_ENOUGH_DATA)]
    standing = drift_policy_standing("True", "Watching", "m", verdict=Verdict.ERROR, checks=checks)
    assert standing == Standing(Progress.FAILED, "Error", "featureDrift: the server exports no reference")
