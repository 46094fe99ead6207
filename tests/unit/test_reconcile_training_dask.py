"""A TrainingRun with spec.compute: the DaskJob asked for instead of a Job, and followed through
its runner pod, its deadline and an engine that does not answer; without a cluster."""

import json
from datetime import timedelta

from ballast.build.daskjob import DASK_CRD
from ballast.reconcile.trainingrun import DASK_JOB, TrainingRunObservation, reconcile_training_run
from ballast.settings import Settings
from tests.unit.test_reconcile_trainingrun import NOW, SHA_MODEL, condition, dataset, run

SETTINGS = Settings(dataset_wait_seconds=600, engine_response_seconds=120)
STARTED = NOW - timedelta(seconds=60)
RESULT = {
    "passed": True,
    "artifact": {"uri": "file:///s/m/model.skops", "sha256": SHA_MODEL, "format": "skops"},
    "metrics": {"accuracy": 0.9},
    "keyMetric": {"name": "accuracy", "value": 0.9},
    "reproducibility": {"seed": 1},
    "params": {"blockwise": {"blockRows": 1000, "epochs": 3}},
}


def dask_run(status=None):
    body = run(status=status)
    body["spec"]["estimator"] = "sklearn.linear_model.SGDClassifier"
    body["spec"]["compute"] = {"engine": "dask", "workers": 3, "blockRows": 1000, "epochs": 3}
    return body


def started():
    return {
        "jobName": "credit-1-dask",
        "datasetVersion": dataset()["status"]["latestVersion"],
        "datasetSnapshotUri": "file:///s/d/data.parquet",
        "startedAt": STARTED.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def follow(**observed):
    body = dask_run(started())
    return reconcile_training_run(TrainingRunObservation(body, observed.pop("now", NOW), **observed), SETTINGS)


def test_a_run_with_compute_asks_for_a_dask_job_named_in_status_and_no_job():
    outcome = reconcile_training_run(TrainingRunObservation(dask_run(), NOW, dataset=dataset()), SETTINGS)
    assert outcome.create_jobs == []
    [(kind, dask_job)] = outcome.create_engine_objects
    assert kind == DASK_JOB and (kind.group, kind.version, kind.plural) == ("kubernetes.dask.org", "v1", "daskjobs")
    assert outcome.status["jobName"] == dask_job["metadata"]["name"] == "credit-1-dask"
    assert outcome.status["startedAt"]
    runner = dask_job["spec"]["job"]["spec"]["containers"][0]
    inputs = json.loads(next(e["value"] for e in runner["env"] if e["name"] == "BALLAST_RUN_INPUTS"))
    assert inputs["spec"]["compute"]["workers"] == 3 and inputs["dataset"]["sha256"] == outcome.status["datasetVersion"]
    assert any(e.reason == "Training" and "DaskJob credit-1-dask" in e.message for e in outcome.events)
    assert condition(outcome, "Succeeded")["status"] == "Unknown"


def test_a_missing_engine_fails_the_run_naming_the_crd_and_the_docs():
    reason, message = DASK_JOB.missing
    assert reason == "EngineNotInstalled"
    assert DASK_CRD in message and "docs/distributed-training.md" in message


def test_the_runner_pods_result_registers_the_model_version():
    outcome = follow(dataset=dataset(), engine_pods=True, termination={"exitCode": 0, "message": json.dumps(RESULT)})
    assert condition(outcome, "Succeeded")["status"] == "True"
    assert outcome.status["modelVersion"].startswith("credit-risk-")
    assert outcome.status["params"] == RESULT["params"]
    assert outcome.status["completedAt"]


def test_the_runner_pods_failure_keeps_its_reason_or_its_memory_limit():
    said = {"exitCode": 2, "message": json.dumps({"reason": "EngineUnavailable", "message": "no scheduler"})}
    failed = follow(dataset=dataset(), engine_pods=True, termination=said)
    assert (condition(failed, "Succeeded")["status"], condition(failed, "Succeeded")["reason"]) == (
        "False",
        "EngineUnavailable",
    )
    killed = follow(dataset=dataset(), engine_pods=True, termination={"exitCode": 137, "reason": "OOMKilled"})
    assert condition(killed, "Succeeded")["reason"] == "OutOfMemory"
    assert "1Gi" in condition(killed, "Succeeded")["message"]
    crashed = follow(dataset=dataset(), engine_pods=True, termination={"exitCode": 1, "message": "Traceback: boom"})
    assert condition(crashed, "Succeeded")["reason"] == "TrainingFailed"
    assert "boom" in condition(crashed, "Succeeded")["message"]


def test_a_running_dask_job_is_woken_at_its_deadline_and_deleted_past_it():
    running = follow(dataset=dataset(), engine_pods=True)
    assert condition(running, "Ready")["reason"] == "Training"
    assert running.wake_at == STARTED + timedelta(seconds=300)
    assert running.create_engine_objects == [] and running.delete_engine_objects == []
    late = follow(dataset=dataset(), engine_pods=True, now=STARTED + timedelta(seconds=301))
    assert late.delete_engine_objects == [(DASK_JOB, "credit-1-dask")]
    assert (condition(late, "Succeeded")["status"], condition(late, "Succeeded")["reason"]) == (
        "False",
        "DeadlineExceeded",
    )


def test_a_pod_of_the_cluster_that_cannot_start_is_named():
    outcome = follow(dataset=dataset(), engine_pods=True, pod_problem="Unschedulable: 0/1 nodes")
    assert condition(outcome, "Ready")["reason"] == "PodCannotStart"
    assert "DaskJob credit-1-dask" in condition(outcome, "Ready")["message"]
    assert condition(outcome, "Succeeded")["status"] == "Unknown"


def test_a_dask_job_without_pods_is_asked_for_again_then_reported_as_engine_not_responding():
    early = follow(dataset=dataset())
    [(_, again)] = early.create_engine_objects  # created if absent: one deleted behind Ballast's back comes back
    assert again["metadata"]["name"] == "credit-1-dask"
    assert condition(early, "Ready")["reason"] == "Training"
    assert early.wake_at == STARTED + timedelta(seconds=120)
    silent = follow(dataset=dataset(), now=STARTED + timedelta(seconds=121))
    ready = condition(silent, "Ready")
    assert (ready["status"], ready["reason"]) == ("Unknown", "EngineNotResponding")
    assert "namespace ml" in ready["message"]
    assert condition(silent, "Succeeded")["status"] == "Unknown"


def test_the_block_size_and_epochs_the_runner_reports_are_kept_in_status_by_its_schema():
    from ballast.api.trainingrun import TrainingRunStatus

    result = {**RESULT, "reproducibility": {"seed": 1, "blockwise": {"blockRows": 1000, "epochs": 3}}}
    outcome = follow(dataset=dataset(), engine_pods=True, termination={"exitCode": 0, "message": json.dumps(result)})
    assert outcome.status["reproducibility"]["blockwise"] == {"blockRows": 1000, "epochs": 3}
    status = TrainingRunStatus.model_validate(outcome.status)
    assert status.reproducibility is not None and status.reproducibility.blockwise is not None
    assert (status.reproducibility.blockwise.block_rows, status.reproducibility.blockwise.epochs) == (1000, 3)
