"""The TrainingRun reconciler's decisions, without a cluster."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from ballast.handlers.apply import ready_transition_events
from ballast.reconcile.jobs import TERMINATION_GRACE_SECONDS, JobState
from ballast.reconcile.trainingrun import TrainingRunObservation, reconcile_training_run
from ballast.settings import Settings
from tests.support.kstatus import kstatus_after, reconciling_and_stalled

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
SHA_DATA, SHA_OLD, SHA_MODEL = "d" * 64, "0" * 64, "f" * 64
SETTINGS = Settings(dataset_wait_seconds=600)


def run(status=None, created=NOW, gates=None, version=None):
    spec = {
        "model": "credit-risk",
        "datasetRef": {"name": "credit", **({"version": version} if version else {})},
        "estimator": "sklearn.linear_model.LogisticRegression",
        "seed": 1,
        "backoffLimit": 2,
        "activeDeadlineSeconds": 300,
        "resources": {"limits": {"memory": "1Gi"}},
        "modelVersionTemplate": {"rollout": {"strategy": "Immediate"}},
    }
    if gates:
        spec["evaluation"] = {"gates": gates}
    return {
        "apiVersion": "ballast.dev/v1alpha1",
        "kind": "TrainingRun",
        "metadata": {
            "name": "credit-1",
            "namespace": "ml",
            "uid": "u-9",
            "generation": 1,
            "creationTimestamp": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        "spec": spec,
        "status": status or {},
    }


def dataset(versions=None, latest=SHA_DATA):
    versions = (
        versions
        if versions is not None
        else [{"sha256": SHA_DATA, "rows": 100, "valid": True, "snapshotUri": f"file:///s/{SHA_DATA}/data.parquet"}]
    )
    return {
        "metadata": {"name": "credit"},
        "spec": {"schema": {"columns": [{"name": "x", "type": "float"}]}},
        "status": {"latestVersion": latest, "versions": versions},
    }


def started():
    return {
        "jobName": "credit-1-train",
        "datasetVersion": SHA_DATA,
        "datasetSnapshotUri": f"file:///s/{SHA_DATA}/data.parquet",
        "startedAt": "2026-01-01T11:00:00Z",
    }


def condition(outcome, type):
    return next(c for c in outcome.status["conditions"] if c["type"] == type)


def finished_with(result, succeeded=True, reason=""):
    return dict(
        job=JobState(finished=True, succeeded=succeeded, reason=reason, message="job message"),
        termination={"exitCode": 0, "message": json.dumps(result) if isinstance(result, dict) else result},
    )


def test_the_newest_valid_version_is_pinned_and_one_restricted_job_is_created():
    outcome = reconcile_training_run(TrainingRunObservation(run(), NOW, dataset=dataset()), SETTINGS)
    assert outcome.status["datasetVersion"] == SHA_DATA
    assert outcome.status["datasetVersionShort"] == SHA_DATA[:12]
    [job] = outcome.create_jobs
    assert job["metadata"]["name"] == "credit-1-train"
    assert job["spec"]["backoffLimit"] == 2 and job["spec"]["activeDeadlineSeconds"] == 300
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"] == {"limits": {"memory": "1Gi"}}
    inputs = json.loads(next(e["value"] for e in container["env"] if e["name"] == "BALLAST_RUN_INPUTS"))
    assert inputs["dataset"]["sha256"] == SHA_DATA and "champion" not in inputs and "card" not in inputs
    assert condition(outcome, "Succeeded")["status"] == "Unknown"


def test_the_runs_intended_use_and_limitations_reach_the_trainer_for_the_model_card():
    body = run()
    body["metadata"]["annotations"] = {
        "ballast.dev/intended-use": "  Pre-screening of applications.  ",
        "ballast.dev/limitations": "x" * 5000,
        "ballast.dev/other": "not for the card",
    }
    [job] = reconcile_training_run(TrainingRunObservation(body, NOW, dataset=dataset()), SETTINGS).create_jobs
    env = job["spec"]["template"]["spec"]["containers"][0]["env"]
    card = json.loads(next(e["value"] for e in env if e["name"] == "BALLAST_RUN_INPUTS"))["card"]
    assert card["intendedUse"] == "Pre-screening of applications."
    assert len(card["limitations"]) == 4096 and card["limitations"].endswith(" [truncated]")
    assert set(card) == {"intendedUse", "limitations"}


def test_a_missing_dataset_waits_then_fails_with_dataset_not_ready():
    waiting = reconcile_training_run(TrainingRunObservation(run(), NOW, dataset=None), SETTINGS)
    assert waiting.create_jobs == []
    assert (condition(waiting, "Ready")["reason"], condition(waiting, "Succeeded")["status"]) == (
        "DatasetNotReady",
        "Unknown",
    )
    late = reconcile_training_run(TrainingRunObservation(run(created=NOW - timedelta(minutes=11)), NOW), SETTINGS)
    assert (condition(late, "Succeeded")["status"], condition(late, "Succeeded")["reason"]) == (
        "False",
        "DatasetNotReady",
    )


def test_an_invalid_pinned_version_is_never_trained_on():
    versions = [{"sha256": SHA_OLD, "rows": 3, "valid": False, "violations": ["too few rows"]}]
    outcome = reconcile_training_run(
        TrainingRunObservation(run(version=SHA_OLD), NOW, dataset=dataset(versions, latest=None)), SETTINGS
    )
    assert outcome.create_jobs == []
    assert condition(outcome, "Succeeded")["reason"] == "DatasetVersionInvalid"
    assert "too few rows" in condition(outcome, "Succeeded")["message"]


def test_the_pinned_version_never_changes_after_the_first_reconcile():
    newer = dataset(
        latest="e" * 64,
        versions=[
            {"sha256": "e" * 64, "rows": 1, "valid": True, "snapshotUri": "file:///s/e"},
            {"sha256": SHA_DATA, "rows": 100, "valid": True, "snapshotUri": f"file:///s/{SHA_DATA}/data.parquet"},
        ],
    )
    outcome = reconcile_training_run(
        TrainingRunObservation(run(status=started()), NOW, dataset=newer, job=None), SETTINGS
    )
    env = outcome.create_jobs[0]["spec"]["template"]["spec"]["containers"][0]["env"]
    inputs = json.loads(next(e["value"] for e in env if e["name"] == "BALLAST_RUN_INPUTS"))
    assert inputs["dataset"]["sha256"] == SHA_DATA
    assert "datasetVersion" not in outcome.status


def test_must_beat_champion_passes_the_production_version_to_the_trainer():
    champion = {
        "metadata": {"name": "credit-risk-000000000000"},
        "spec": {"artifact": {"uri": "file:///m/x/model.skops", "sha256": SHA_OLD}},
    }
    outcome = reconcile_training_run(
        TrainingRunObservation(run(gates={"mustBeatChampion": True}), NOW, dataset=dataset(), champion=champion),
        SETTINGS,
    )
    env = outcome.create_jobs[0]["spec"]["template"]["spec"]["containers"][0]["env"]
    inputs = json.loads(next(e["value"] for e in env if e["name"] == "BALLAST_RUN_INPUTS"))
    assert inputs["champion"] == {
        "modelVersion": "credit-risk-000000000000",
        "uri": "file:///m/x/model.skops",
        "sha256": SHA_OLD,
    }
    assert outcome.status["champion"] == "credit-risk-000000000000"


def test_a_run_on_an_image_named_by_digest_tells_the_trainer_that_digest():
    """The reproducibility record names the bytes that ran: a digest, not a tag."""
    digest = "sha256:" + "d" * 64
    by_digest = Settings(dataset_wait_seconds=600, image=f"127.0.0.1:5000/ballast@{digest}")
    [job] = reconcile_training_run(TrainingRunObservation(run(), NOW, dataset=dataset()), by_digest).create_jobs
    env = {e["name"]: e["value"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["BALLAST_IMAGE"] == f"127.0.0.1:5000/ballast@{digest}" and env["BALLAST_IMAGE_DIGEST"] == digest
    [job] = reconcile_training_run(TrainingRunObservation(run(), NOW, dataset=dataset()), SETTINGS).create_jobs
    env = {e["name"]: e["value"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert "BALLAST_IMAGE_DIGEST" not in env


def test_a_passed_run_registers_a_model_version_with_lineage_and_no_owner():
    result = {
        "artifact": {"uri": f"file:///m/credit-risk/{SHA_MODEL}/model.skops", "sha256": SHA_MODEL},
        "metrics": {"accuracy": 0.9},
        "keyMetric": {"name": "accuracy", "value": 0.9},
        "passed": True,
        "gates": [],
    }
    outcome = reconcile_training_run(
        TrainingRunObservation(run(status=started()), NOW, dataset=dataset(), **finished_with(result)), SETTINGS
    )
    [(plural, version)] = outcome.create_objects
    assert plural == "modelversions"
    assert version["metadata"]["name"] == "credit-risk-" + SHA_MODEL[:12]
    assert "ownerReferences" not in version["metadata"]
    assert version["spec"]["source"] == {"trainingRun": "credit-1", "dataset": {"name": "credit", "version": SHA_DATA}}
    assert version["spec"]["rollout"] == {"strategy": "Immediate"}
    assert outcome.status["metrics"] == {"accuracy": 0.9}
    assert (condition(outcome, "Succeeded")["status"], condition(outcome, "Succeeded")["reason"]) == ("True", "Trained")


def test_the_key_metric_column_is_rounded_while_metrics_keep_every_digit():
    accuracy = 0.9916666666666667
    result = {
        "artifact": {"uri": f"file:///m/credit-risk/{SHA_MODEL}/model.skops", "sha256": SHA_MODEL},
        "metrics": {"accuracy": accuracy},
        "keyMetric": {"name": "accuracy", "value": accuracy},
        "passed": True,
        "gates": [],
    }
    outcome = reconcile_training_run(
        TrainingRunObservation(run(status=started()), NOW, dataset=dataset(), **finished_with(result)), SETTINGS
    )
    assert outcome.status["keyMetric"] == {"name": "accuracy", "value": 0.9917}
    assert outcome.status["metrics"] == {"accuracy": accuracy}


def test_a_failed_gate_says_which_and_registers_nothing():
    result = {
        "artifact": {"uri": "file:///m/x", "sha256": SHA_MODEL},
        "passed": False,
        "gates": [{"name": "minimum/accuracy", "passed": False, "message": "accuracy 0.61 < 0.9"}],
    }
    outcome = reconcile_training_run(
        TrainingRunObservation(run(status=started()), NOW, dataset=dataset(), **finished_with(result)), SETTINGS
    )
    assert outcome.create_objects == []
    succeeded = condition(outcome, "Succeeded")
    assert (succeeded["status"], succeeded["reason"]) == ("False", "GateFailed")
    assert "accuracy 0.61 < 0.9" in succeeded["message"]


def test_failures_keep_the_pods_reason_or_the_deadline():
    invalid = finished_with(
        {"passed": False, "reason": "InvalidEstimator", "message": "unknown param max_depthh"},
        succeeded=False,
        reason="PodFailurePolicy",
    )
    outcome = reconcile_training_run(TrainingRunObservation(run(status=started()), NOW, **invalid), SETTINGS)
    assert condition(outcome, "Succeeded")["reason"] == "InvalidEstimator"
    deadline = finished_with("", succeeded=False, reason="DeadlineExceeded")
    outcome = reconcile_training_run(TrainingRunObservation(run(status=started()), NOW, **deadline), SETTINGS)
    assert condition(outcome, "Succeeded")["reason"] == "DeadlineExceeded"
    crash = finished_with("Traceback ...\nMemoryError", succeeded=False, reason="BackoffLimitExceeded")
    outcome = reconcile_training_run(TrainingRunObservation(run(status=started()), NOW, **crash), SETTINGS)
    assert condition(outcome, "Succeeded")["reason"] == "TrainingFailed"
    assert "MemoryError" in condition(outcome, "Succeeded")["message"]


def test_a_training_pod_killed_at_its_memory_limit_fails_with_out_of_memory_naming_the_limit():
    """The kernel's OOM kill leaves no result and often no log: only the runtime's reason
    tells a person to raise the limit rather than look for a bug."""
    killed = dict(
        job=JobState(finished=True, succeeded=False, reason="BackoffLimitExceeded", message="job message"),
        termination={"exitCode": 137, "reason": "OOMKilled", "message": "fitting"},
    )
    outcome = reconcile_training_run(TrainingRunObservation(run(status=started()), NOW, **killed), SETTINGS)
    succeeded = condition(outcome, "Succeeded")
    assert (succeeded["status"], succeeded["reason"]) == ("False", "OutOfMemory")
    assert "1Gi" in succeeded["message"] and "OOMKilled" in succeeded["message"]
    signalled = dict(killed, termination={"exitCode": 137, "reason": "Error", "message": "fitting"})
    outcome = reconcile_training_run(TrainingRunObservation(run(status=started()), NOW, **signalled), SETTINGS)
    assert condition(outcome, "Succeeded")["reason"] == "TrainingFailed"


def test_a_finished_run_does_nothing_more():
    status = {
        **started(),
        "conditions": [
            {
                "type": "Succeeded",
                "status": "True",
                "reason": "Trained",
                "message": "",
                "lastTransitionTime": "2026-01-01T11:30:00Z",
            }
        ],
    }
    outcome = reconcile_training_run(TrainingRunObservation(run(status=status), NOW, job=None), SETTINGS)
    assert outcome.create_jobs == [] and outcome.create_objects == [] and outcome.events == []


def test_a_finished_job_whose_pod_result_has_not_arrived_yet_waits_for_it_then_gives_up():
    """The Job controller can mark a Job failed before the watch delivers the pod's termination
    message: recording the Job's generic reason at once would lose the real one for good."""
    finished_at = NOW - timedelta(seconds=3)
    job = JobState(
        finished=True,
        succeeded=False,
        reason="BackoffLimitExceeded",
        message="Job has reached the specified backoff limit",
        finished_at=finished_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    early = reconcile_training_run(TrainingRunObservation(run(status=started()), NOW, job=job), SETTINGS)
    assert condition(early, "Succeeded")["status"] == "Unknown"
    arrived = reconcile_training_run(
        TrainingRunObservation(
            run(status=started()),
            NOW,
            job=job,
            termination={
                "exitCode": 2,
                "message": json.dumps({"passed": False, "reason": "InvalidEstimator", "message": "unknown param"}),
            },
        ),
        SETTINGS,
    )
    assert condition(arrived, "Succeeded")["reason"] == "InvalidEstimator"
    never = reconcile_training_run(
        TrainingRunObservation(run(status=started()), NOW + timedelta(seconds=30), job=job), SETTINGS
    )
    assert (condition(never, "Succeeded")["status"], condition(never, "Succeeded")["reason"]) == (
        "False",
        "TrainingFailed",
    )
    assert "backoff limit" in condition(never, "Succeeded")["message"]


def test_a_training_pod_that_cannot_start_is_named_in_the_conditions_once_with_an_event():
    problem = 'ImagePullBackOff: Back-off pulling image "registry.example/ballast:9"'
    observed = TrainingRunObservation(run(status=started()), NOW, job=JobState(False, False), pod_problem=problem)
    stuck = reconcile_training_run(observed, SETTINGS)
    for type in ("Ready", "Succeeded"):
        assert (condition(stuck, type)["status"], condition(stuck, type)["reason"]) == ("Unknown", "PodCannotStart")
    assert problem in condition(stuck, "Ready")["message"]
    assert [(e.type, e.reason) for e in ready_transition_events(started(), stuck)] == [("Warning", "PodCannotStart")]

    status = {**started(), "conditions": stuck.status["conditions"]}
    again = reconcile_training_run(
        TrainingRunObservation(run(status=status), NOW, job=JobState(False, False), pod_problem=problem), SETTINGS
    )
    assert ready_transition_events(status, again) == []


def test_a_run_waiting_for_its_dataset_asks_to_be_woken_at_the_deadline():
    """No event marks the end of the wait: the trigger layer must come back then by itself."""
    created = NOW - timedelta(minutes=4)
    waiting = reconcile_training_run(TrainingRunObservation(run(created=created), NOW, dataset=None), SETTINGS)
    assert waiting.wake_at == created + timedelta(seconds=SETTINGS.dataset_wait_seconds)
    assert "_state" not in waiting.status


def test_a_finished_job_without_its_result_asks_to_be_woken_when_the_grace_ends():
    finished_at = NOW - timedelta(seconds=3)
    job = JobState(finished=True, succeeded=False, reason="BackoffLimitExceeded", finished_at=finished_at.isoformat())
    early = reconcile_training_run(TrainingRunObservation(run(status=started()), NOW, job=job), SETTINGS)
    assert early.wake_at == finished_at + timedelta(seconds=TERMINATION_GRACE_SECONDS)
    running = reconcile_training_run(
        TrainingRunObservation(run(status=started()), NOW, job=JobState(False, False)), SETTINGS
    )
    assert running.wake_at is None  # the Job's own events say when it ends


def test_no_reconcile_leaves_a_private_key_in_status():
    outcomes = [
        reconcile_training_run(TrainingRunObservation(run(), NOW, dataset=dataset()), SETTINGS),
        reconcile_training_run(
            TrainingRunObservation(run(status=started()), NOW, job=JobState(False, False)), SETTINGS
        ),
        reconcile_training_run(
            TrainingRunObservation(run(status=started()), NOW, **finished_with("", succeeded=False)), SETTINGS
        ),
    ]
    for outcome in outcomes:
        assert all(not key.startswith("_") for key in outcome.status), outcome.status


def test_a_running_run_is_reconciling_and_a_failed_gate_stalls_it():
    running = reconcile_training_run(TrainingRunObservation(run(), NOW, dataset=dataset()), SETTINGS)
    assert reconciling_and_stalled(running.status) == ("True", "False")
    result = {"artifact": {"uri": "file:///m/x", "sha256": SHA_MODEL}, "passed": False, "gates": []}
    failed = reconcile_training_run(
        TrainingRunObservation(run(status=started()), NOW, dataset=dataset(), **finished_with(result)), SETTINGS
    )
    assert reconciling_and_stalled(failed.status) == ("False", "True")
    assert condition(failed, "Stalled")["reason"] == "GateFailed"


def test_a_run_finished_before_stalled_existed_gets_it_from_succeeded():
    succeeded = {"type": "Succeeded", "status": "False", "reason": "GateFailed", "message": "accuracy 0.61 < 0.9"}
    status = {**started(), "conditions": [{**succeeded, "lastTransitionTime": "2026-01-01T11:30:00Z"}]}
    outcome = reconcile_training_run(TrainingRunObservation(run(status=status), NOW, job=None), SETTINGS)
    assert reconciling_and_stalled(outcome.status) == ("False", "True")
    assert condition(outcome, "Stalled")["message"] == "accuracy 0.61 < 0.9"
    assert condition(outcome, "Succeeded") == status["conditions"][0]


@pytest.mark.tools
def test_kstatus_reads_a_running_run_as_in_progress_a_trained_one_current_and_a_failed_gate_failed():
    waiting = run()
    assert kstatus_after(waiting, reconcile_training_run(TrainingRunObservation(waiting, NOW), SETTINGS).status) == (
        "InProgress"
    )
    started_run = run(status=started())
    passed = {"artifact": {"uri": "file:///m/x", "sha256": SHA_MODEL}, "passed": True, "gates": []}
    trained = reconcile_training_run(
        TrainingRunObservation(started_run, NOW, dataset=dataset(), **finished_with(passed)), SETTINGS
    )
    assert kstatus_after(started_run, trained.status) == "Current"
    failed = reconcile_training_run(
        TrainingRunObservation(started_run, NOW, dataset=dataset(), **finished_with({**passed, "passed": False})),
        SETTINGS,
    )
    assert kstatus_after(started_run, failed.status) == "Failed"
