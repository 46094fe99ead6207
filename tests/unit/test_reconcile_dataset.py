"""The Dataset reconciler's decisions, from observations to outcomes, without a cluster."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from ballast.handlers.apply import ready_transition_events
from ballast.reconcile.dataset import DatasetObservation, reconcile_dataset
from ballast.reconcile.jobs import JobState
from ballast.settings import Settings
from tests.support.kstatus import kstatus_after, reconciling_and_stalled

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
SHA_A, SHA_B = "a" * 64, "b" * 64
SETTINGS = Settings()


def dataset(generation=1, status=None, refresh=None):
    spec = {
        "source": {"inline": {"rows": [{"x": 1}]}},
        "format": "csv",
        "schema": {"columns": [{"name": "x", "type": "integer"}]},
        "versionHistoryLimit": 3,
    }
    if refresh:
        spec["refreshInterval"] = refresh
    return {
        "apiVersion": "ballast.dev/v1alpha1",
        "kind": "Dataset",
        "metadata": {"name": "credit", "namespace": "ml", "uid": "u-1", "generation": generation},
        "spec": spec,
        "status": status or {},
    }


def finished(result, succeeded=True):
    return dict(
        job=JobState(finished=True, succeeded=succeeded),
        termination={"exitCode": 0 if succeeded else 2, "message": json.dumps(result)},
    )


def ok_result(sha, valid=True, rows=10, violations=()):
    return {
        "ok": True,
        "sha256": sha,
        "rows": rows,
        "valid": valid,
        "violations": list(violations),
        "violationCount": len(violations),
        "snapshotUri": f"file:///s/{sha}/data.parquet" if valid else None,
        "createdAt": "2026-01-01T11:59:00Z",
    }


def ingesting(job="credit-ingest-g1-r0", generation=1, refresh=0, started=NOW):
    return {
        "jobName": job,
        "generation": generation,
        "refresh": refresh,
        "startedAt": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def ready(outcome):
    return next(c for c in outcome.status["conditions"] if c["type"] == "Ready")


def test_a_new_dataset_starts_one_ingest_job_owned_by_it():
    outcome = reconcile_dataset(DatasetObservation(body=dataset(), now=NOW), SETTINGS)
    [job] = outcome.create_jobs
    assert job["metadata"]["name"] == "credit-ingest-g1-r0"
    assert job["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    assert outcome.status["ingest"]["jobName"] == "credit-ingest-g1-r0"
    assert (ready(outcome)["status"], ready(outcome)["reason"]) == ("Unknown", "Ingesting")


def test_the_ingest_pod_is_restricted_and_has_no_api_token():
    [job] = reconcile_dataset(DatasetObservation(body=dataset(), now=NOW), SETTINGS).create_jobs
    pod = job["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    container = pod["containers"][0]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["args"] == ["ingest"]
    # scratch space through TMPDIR, never a volume over the node's /tmp
    assert "/tmp" not in [m["mountPath"] for m in container["volumeMounts"]]
    assert {"name": "TMPDIR", "value": "/var/tmp/ballast"} in container["env"]


def test_a_running_job_changes_nothing_and_a_missing_one_is_asked_for_again():
    body = dataset(status={"ingest": ingesting(), "observedGeneration": 1})
    running = reconcile_dataset(DatasetObservation(body, NOW, job=JobState(False, False)), SETTINGS)
    assert running.create_jobs == [] and running.delete_jobs == []
    missing = reconcile_dataset(DatasetObservation(body, NOW, job=None), SETTINGS)
    assert [j["metadata"]["name"] for j in missing.create_jobs] == ["credit-ingest-g1-r0"]


def test_a_valid_result_becomes_the_latest_version_and_the_job_is_removed():
    body = dataset(status={"ingest": ingesting()})
    outcome = reconcile_dataset(DatasetObservation(body, NOW, **finished(ok_result(SHA_A))), SETTINGS)
    assert outcome.status["latestVersion"] == SHA_A
    assert outcome.status["versions"][0]["valid"] is True
    assert outcome.delete_jobs == ["credit-ingest-g1-r0"]
    assert outcome.status["ingest"]["succeeded"] is True
    assert (ready(outcome)["status"], ready(outcome)["reason"]) == ("True", "VersionAvailable")
    assert [e.reason for e in outcome.events] == ["NewVersion"]


def test_an_invalid_result_is_recorded_with_its_reasons_but_never_becomes_latest():
    body = dataset(status={"ingest": ingesting()})
    result = ok_result(SHA_A, valid=False, violations=["column x: 2 values are not integers", "too few rows"])
    outcome = reconcile_dataset(DatasetObservation(body, NOW, **finished(result)), SETTINGS)
    assert "latestVersion" not in outcome.status
    assert outcome.status["versions"][0]["violations"] == result["violations"]
    assert (ready(outcome)["status"], ready(outcome)["reason"]) == ("False", "InvalidData")
    assert outcome.events[0].type == "Warning" and "too few rows" in outcome.events[0].message


def test_an_invalid_new_version_keeps_the_previous_valid_one_as_latest():
    previous = {"sha256": SHA_A, "rows": 10, "createdAt": "2026-01-01T00:00:00Z", "valid": True}
    body = dataset(status={"ingest": ingesting(), "latestVersion": SHA_A, "latestRows": 10, "versions": [previous]})
    outcome = reconcile_dataset(DatasetObservation(body, NOW, **finished(ok_result(SHA_B, valid=False))), SETTINGS)
    assert outcome.status.get("latestVersion", SHA_A) == SHA_A
    assert [v["sha256"] for v in outcome.status["versions"]] == [SHA_B, SHA_A]


def test_unchanged_content_makes_no_new_version():
    previous = {
        "sha256": SHA_A,
        "rows": 10,
        "createdAt": "2026-01-01T00:00:00Z",
        "valid": True,
        "snapshotUri": f"file:///s/{SHA_A}/data.parquet",
    }
    body = dataset(
        status={
            "ingest": ingesting(refresh=1, job="credit-ingest-g1-r1"),
            "latestVersion": SHA_A,
            "versions": [previous],
        }
    )
    outcome = reconcile_dataset(DatasetObservation(body, NOW, **finished(ok_result(SHA_A))), SETTINGS)
    assert len(outcome.status["versions"]) == 1
    assert outcome.events == []


def test_history_is_bounded_by_the_limit():
    versions = [{"sha256": c * 64, "rows": 1, "createdAt": "2026-01-01T00:00:00Z", "valid": True} for c in "cde"]
    body = dataset(status={"ingest": ingesting(), "versions": versions})
    outcome = reconcile_dataset(DatasetObservation(body, NOW, **finished(ok_result(SHA_A))), SETTINGS)
    assert [v["sha256"][0] for v in outcome.status["versions"]] == ["a", "c", "d"]


def test_a_failed_ingest_reports_the_pods_reason():
    body = dataset(status={"ingest": ingesting()})
    failure = {"ok": False, "reason": "SourceNotFound", "message": "HTTP 404 from http://x/d.csv"}
    outcome = reconcile_dataset(DatasetObservation(body, NOW, **finished(failure, succeeded=False)), SETTINGS)
    assert (ready(outcome)["status"], ready(outcome)["reason"]) == ("False", "SourceNotFound")
    assert "HTTP 404" in ready(outcome)["message"]


def test_an_ingest_pod_killed_at_its_memory_limit_says_so():
    body = dataset(status={"ingest": ingesting()})
    killed = dict(
        job=JobState(finished=True, succeeded=False, reason="BackoffLimitExceeded"),
        termination={"exitCode": 137, "reason": "OOMKilled", "message": "reading the source"},
    )
    outcome = reconcile_dataset(DatasetObservation(body, NOW, **killed), SETTINGS)
    assert (ready(outcome)["status"], ready(outcome)["reason"]) == ("False", "OutOfMemory")
    assert "OOMKilled" in ready(outcome)["message"]
    assert [(event.type, event.reason) for event in outcome.events] == [("Warning", "OutOfMemory")]


def test_a_spec_change_replaces_an_unfinished_ingest():
    body = dataset(generation=2, status={"ingest": ingesting()})
    outcome = reconcile_dataset(DatasetObservation(body, NOW), SETTINGS)
    assert outcome.delete_jobs == ["credit-ingest-g1-r0"]
    assert [j["metadata"]["name"] for j in outcome.create_jobs] == ["credit-ingest-g2-r0"]


def test_refresh_starts_a_new_job_only_when_due():
    done = {**ingesting(started=NOW - timedelta(minutes=30)), "finishedAt": "2026-01-01T11:31:00Z", "succeeded": True}
    early = reconcile_dataset(DatasetObservation(dataset(status={"ingest": done}, refresh="1h"), NOW), SETTINGS)
    assert early.create_jobs == []
    late = reconcile_dataset(
        DatasetObservation(dataset(status={"ingest": done}, refresh="1h"), NOW + timedelta(minutes=31)), SETTINGS
    )
    assert [j["metadata"]["name"] for j in late.create_jobs] == ["credit-ingest-g1-r1"]


def test_a_new_ingest_clears_the_previous_outcome_so_it_is_not_taken_as_finished():
    done = {
        **ingesting(started=NOW - timedelta(hours=2)),
        "finishedAt": "2026-01-01T10:01:00Z",
        "succeeded": True,
        "reason": "Ingested",
        "message": "version a: 10 rows, valid",
    }
    outcome = reconcile_dataset(DatasetObservation(dataset(status={"ingest": done}, refresh="1h"), NOW), SETTINGS)
    started = outcome.status["ingest"]
    assert started["jobName"] == "credit-ingest-g1-r1"
    # a merge patch keeps keys it does not mention: these must be explicit nulls
    assert {k: started[k] for k in ("finishedAt", "succeeded", "reason", "message")} == dict.fromkeys(
        ("finishedAt", "succeeded", "reason", "message")
    )


def test_an_ingest_pod_that_cannot_start_is_named_in_ready_once_with_an_event():
    body = dataset(status={"ingest": ingesting(), "observedGeneration": 1})
    problem = "Unschedulable: 0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."
    stuck = reconcile_dataset(DatasetObservation(body, NOW, job=JobState(False, False), pod_problem=problem), SETTINGS)
    assert (ready(stuck)["status"], ready(stuck)["reason"]) == ("Unknown", "PodCannotStart")
    assert problem in ready(stuck)["message"] and "credit-ingest-g1-r0" in ready(stuck)["message"]
    assert [(e.type, e.reason) for e in ready_transition_events(body["status"], stuck)] == [
        ("Warning", "PodCannotStart")
    ]
    assert stuck.create_jobs == [] and stuck.delete_jobs == []  # the Job's deadline still ends it

    body["status"]["conditions"] = stuck.status["conditions"]
    again = reconcile_dataset(DatasetObservation(body, NOW, job=JobState(False, False), pod_problem=problem), SETTINGS)
    assert ready_transition_events(body["status"], again) == [] and ready(again)["reason"] == "PodCannotStart"
    started = reconcile_dataset(DatasetObservation(body, NOW, job=JobState(False, False)), SETTINGS)
    assert ready(started)["reason"] == "Ingesting"


def test_a_refreshing_dataset_asks_to_be_woken_when_its_next_refresh_is_due():
    started = NOW - timedelta(minutes=30)
    done = {**ingesting(started=started), "finishedAt": "2026-01-01T11:31:00Z", "succeeded": True}
    idle = reconcile_dataset(DatasetObservation(dataset(status={"ingest": done}, refresh="1h"), NOW), SETTINGS)
    assert idle.wake_at == started + timedelta(hours=1)
    never = reconcile_dataset(DatasetObservation(dataset(status={"ingest": done}), NOW), SETTINGS)
    assert never.wake_at is None


def test_an_ingest_is_reconciling_its_failure_stalls_and_a_valid_version_is_neither():
    assert reconciling_and_stalled(reconcile_dataset(DatasetObservation(dataset(), NOW), SETTINGS).status) == (
        "True",
        "False",
    )
    body = dataset(status={"ingest": ingesting()})
    failure = {"ok": False, "reason": "SourceNotFound", "message": "HTTP 404 from http://x/d.csv"}
    failed = reconcile_dataset(DatasetObservation(body, NOW, **finished(failure, succeeded=False)), SETTINGS)
    assert reconciling_and_stalled(failed.status) == ("False", "True")
    invalid = reconcile_dataset(DatasetObservation(body, NOW, **finished(ok_result(SHA_A, valid=False))), SETTINGS)
    assert reconciling_and_stalled(invalid.status) == ("False", "True")
    valid = reconcile_dataset(DatasetObservation(body, NOW, **finished(ok_result(SHA_A))), SETTINGS)
    assert reconciling_and_stalled(valid.status) == ("False", "False")


def test_a_refresh_beside_a_valid_version_is_neither_reconciling_nor_stalled():
    previous = {"sha256": SHA_A, "rows": 10, "createdAt": "2026-01-01T00:00:00Z", "valid": True}
    kept = {"latestVersion": SHA_A, "latestRows": 10, "versions": [previous]}
    body = dataset(status={"ingest": ingesting(job="credit-ingest-g1-r2", refresh=2), **kept}, refresh="1h")
    running = reconcile_dataset(DatasetObservation(body, NOW, job=JobState(finished=False, succeeded=False)), SETTINGS)
    assert reconciling_and_stalled(running.status) == ("False", "False")
    failure = {"ok": False, "reason": "SourceNotFound", "message": "HTTP 404 from http://x/d.csv"}
    failed = reconcile_dataset(DatasetObservation(body, NOW, **finished(failure, succeeded=False)), SETTINGS)
    assert reconciling_and_stalled(failed.status) == ("False", "False") and ready(failed)["status"] == "True"


@pytest.mark.tools
def test_kstatus_reads_an_ingest_a_failed_one_a_valid_version_and_a_refresh():
    new = dataset()
    assert kstatus_after(new, reconcile_dataset(DatasetObservation(new, NOW), SETTINGS).status) == "InProgress"
    body = dataset(status={"ingest": ingesting()})
    invalid = reconcile_dataset(DatasetObservation(body, NOW, **finished(ok_result(SHA_A, valid=False))), SETTINGS)
    assert kstatus_after(body, invalid.status) == "Failed"
    valid = reconcile_dataset(DatasetObservation(body, NOW, **finished(ok_result(SHA_A))), SETTINGS)
    assert kstatus_after(body, valid.status) == "Current"
    previous = {"sha256": SHA_A, "rows": 10, "createdAt": "2026-01-01T00:00:00Z", "valid": True}
    kept = {"latestVersion": SHA_A, "latestRows": 10, "versions": [previous]}
    refreshing = dataset(status={"ingest": ingesting(job="credit-ingest-g1-r2", refresh=2), **kept}, refresh="1h")
    running = reconcile_dataset(
        DatasetObservation(refreshing, NOW, job=JobState(finished=False, succeeded=False)), SETTINGS
    )
    assert kstatus_after(refreshing, running.status) == "Current"
