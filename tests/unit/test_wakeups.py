from datetime import UTC, datetime

from ballast.wakeups import (
    ObjectKey,
    own_fingerprint,
    owners_of_child,
    policy_of_run,
    read_by_others,
)

NOW = datetime(2026, 12, 5, 12, 0, 0, tzinfo=UTC)


def test_a_status_write_does_not_change_the_own_fingerprint_but_spec_and_annotations_do():
    metadata = {"generation": 3, "annotations": {"a": "1"}}
    assert own_fingerprint(metadata) == own_fingerprint({**metadata, "resourceVersion": "999"})
    assert own_fingerprint(metadata) != own_fingerprint({**metadata, "generation": 4})
    assert own_fingerprint(metadata) != own_fingerprint({**metadata, "annotations": {"a": "2"}})
    assert own_fingerprint(metadata) != own_fingerprint({**metadata, "deletionTimestamp": "2026-12-05T12:00:00Z"})


def test_siblings_are_woken_by_a_change_of_stage_not_of_traffic_share():
    version = {"spec": {"model": "m"}, "status": {"stage": "Candidate", "trafficPercent": 0, "readyReplicas": 0}}
    same = read_by_others("ModelVersion", version)
    assert read_by_others("ModelVersion", {**version, "status": {**version["status"], "trafficPercent": 50}}) == same
    assert read_by_others("ModelVersion", {**version, "status": {**version["status"], "stage": "Production"}}) != same
    assert read_by_others("ModelVersion", {**version, "status": {**version["status"], "readyReplicas": 1}}) != same


def test_kopfs_own_bookkeeping_wakes_nobody():
    dataset = {"spec": {}, "status": {"latestVersion": "abc"}}
    with_kopf = {"spec": {}, "status": {"latestVersion": "abc", "kopf": {"diffbase": "{}"}}}
    assert read_by_others("Dataset", dataset) == read_by_others("Dataset", with_kopf)


def test_children_name_their_owner():
    ingest = {"app.kubernetes.io/component": "ingest", "app.kubernetes.io/instance": "credit"}
    training = {"app.kubernetes.io/component": "training", "app.kubernetes.io/instance": "run-1"}
    serving = {
        "app.kubernetes.io/component": "serving",
        "app.kubernetes.io/instance": "credit-abc",
        "ballast.dev/model-version": "credit-abc",
    }
    assert owners_of_child(ingest, [], "ml") == [ObjectKey("Dataset", "ml", "credit")]
    assert owners_of_child(training, [], "ml") == [ObjectKey("TrainingRun", "ml", "run-1")]
    assert owners_of_child(serving, [], "ml") == [ObjectKey("ModelVersion", "ml", "credit-abc")]
    service = {"app.kubernetes.io/component": "serving", "app.kubernetes.io/instance": "credit"}
    owners = [{"kind": "ModelVersion", "name": "v1"}, {"kind": "ModelVersion", "name": "v2"}, {"kind": "Pod"}]
    assert owners_of_child(service, owners, "ml") == [
        ObjectKey("ModelVersion", "ml", "v1"),
        ObjectKey("ModelVersion", "ml", "v2"),
    ]
    assert owners_of_child({"app.kubernetes.io/component": "retention"}, [], "ml") == []
    assert policy_of_run({"ballast.dev/drift-policy": "p"}, "ml") == [ObjectKey("DriftPolicy", "ml", "p")]
    assert policy_of_run({}, "ml") == []
