"""Issue 12, rows 3 and 11: one store prefix per namespace, custom images only as an
administrator allows, pvc and secretRef sources only when labelled for Ballast, and the
profile and metadata of a dataset version pinned by digest. Without a cluster."""

import json
from datetime import UTC, datetime

import pytest

from ballast.build.naming import DATASET_CREDENTIALS_LABEL, DATASET_SOURCE_LABEL
from ballast.build.policy import (
    IMAGE_NOT_ALLOWED,
    SOURCE_NOT_ALLOWED,
    SourceObjects,
    custom_image_refusal,
    image_allowed,
    source_refusal,
)
from ballast.build.retrain import build_retrain_run, retrain_template_refusal
from ballast.build.serving import build_serving_deployment
from ballast.data.snapshot import read_profile, read_snapshot
from ballast.reconcile.dataset import DatasetObservation, reconcile_dataset
from ballast.reconcile.trainingrun import TrainingRunObservation, reconcile_training_run
from ballast.settings import Settings
from ballast.store import ArtifactStore, DigestMismatch
from ballast.store.errors import ArtifactOutsideStore
from ballast.store.layout import namespace_store_uri, namespaced_key

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
SHA = "d" * 64
BALLAST_IMAGE = "registry.example.com/ballast@sha256:" + "1" * 64
CLOSED = Settings(image=BALLAST_IMAGE)
OPEN = Settings(
    image=BALLAST_IMAGE,
    custom_images_enabled=True,
    custom_image_prefixes=("registry.example.com/ml-team/", "quay.io/acme"),
)


# --- the store, one prefix per namespace ---------------------------------------------------


def test_a_namespaces_store_root_is_a_prefix_of_the_stores_root():
    assert namespace_store_uri("file:///var/lib/ballast", "team-a") == "file:///var/lib/ballast/team-a"
    assert namespace_store_uri("s3://bucket/prefix/", "team-a") == "s3://bucket/prefix/team-a"
    assert namespaced_key("team-a", "datasets/credit/x/data.parquet") == "team-a/datasets/credit/x/data.parquet"
    for hostile in ("..", "a/b", ".hidden", ""):
        with pytest.raises(ArtifactOutsideStore):
            namespace_store_uri("file:///var/lib/ballast", hostile)


def ingest_pod(settings=Settings(), namespace="team-a"):
    body = {
        "apiVersion": "ballast.dev/v1alpha1",
        "kind": "Dataset",
        "metadata": {"name": "credit", "namespace": namespace, "uid": "u", "generation": 1},
        "spec": {"source": {"inline": {"rows": [{"x": 1}]}}, "schema": {"columns": [{"name": "x", "type": "integer"}]}},
    }
    [job] = reconcile_dataset(DatasetObservation(body, NOW), settings).create_jobs
    return job["spec"]["template"]["spec"]


def test_a_pod_mounts_only_its_namespaces_directory_at_the_path_it_has_under_the_root():
    pod = ingest_pod()
    [container] = pod["containers"]
    [store] = [m for m in container["volumeMounts"] if m["name"] == "artifact-store"]
    assert store == {"name": "artifact-store", "mountPath": "/var/lib/ballast/team-a", "subPath": "team-a"}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["BALLAST_STORE_URI"] == "file:///var/lib/ballast/team-a"
    # the volume is the store's claim; the subPath is what keeps other namespaces out of reach
    [volume] = [v for v in pod["volumes"] if v["name"] == "artifact-store"]
    assert volume["persistentVolumeClaim"]["claimName"] == "ballast-artifacts"


def test_an_s3_pods_root_is_its_namespaces_prefix_and_its_credentials_come_from_its_namespace():
    settings = Settings(store_uri="s3://bucket/ballast", store_secret="store-credentials")
    pod = ingest_pod(settings, namespace="team-b")
    [container] = pod["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["BALLAST_STORE_URI"] == "s3://bucket/ballast/team-b"
    assert {"secretRef": {"name": "store-credentials"}} in container["envFrom"]  # the pod's own namespace's Secret
    assert all(m["name"] != "artifact-store" for m in container["volumeMounts"])


def test_serving_pods_mount_the_store_read_only():
    version = {
        "apiVersion": "ballast.dev/v1alpha1",
        "kind": "ModelVersion",
        "metadata": {"name": "credit-abc", "namespace": "team-a", "uid": "u"},
        "spec": {
            "model": "credit",
            "artifact": {"uri": "file:///var/lib/ballast/team-a/models/credit/x/model.skops", "sha256": SHA},
        },
    }
    deployment = build_serving_deployment(version, replicas=1, settings=Settings())
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    [store] = [m for m in container["volumeMounts"] if m["name"] == "artifact-store"]
    assert store == {
        "name": "artifact-store",
        "mountPath": "/var/lib/ballast/team-a",
        "subPath": "team-a",
        "readOnly": True,
    }
    # ingest and training write: theirs is read-write
    [ingest_store] = [m for m in ingest_pod()["containers"][0]["volumeMounts"] if m["name"] == "artifact-store"]
    assert "readOnly" not in ingest_store


def test_a_uri_written_in_a_pod_names_the_same_file_for_the_operator(tmp_path):
    """The pod's root is <root>/<namespace>: what it records is a full key for the operator."""
    root = f"file://{tmp_path}"
    pod_store = ArtifactStore(namespace_store_uri(root, "team-a"))
    uri = pod_store.write_bytes_once("datasets/credit/x/data.parquet", b"rows")
    operator_store = ArtifactStore(root)
    assert operator_store.key(uri) == "team-a/datasets/credit/x/data.parquet"
    assert operator_store.read_bytes(uri) == b"rows"
    # and a namespace's store refuses another namespace's URI outright
    other = ArtifactStore(namespace_store_uri(root, "team-b"))
    with pytest.raises(ArtifactOutsideStore):
        other.read_bytes(uri)


# --- custom images and commands --------------------------------------------------------------


def test_ballast_image_is_always_allowed_and_others_only_with_an_allowed_prefix():
    assert image_allowed(BALLAST_IMAGE, CLOSED)
    assert not image_allowed("registry.example.com/ml-team/trainer:1", CLOSED)  # off by default
    assert not image_allowed("registry.example.com/ml-team/trainer:1", Settings())
    assert image_allowed("registry.example.com/ml-team/trainer:1", OPEN)
    assert image_allowed("quay.io/acme/trainer@sha256:" + "2" * 64, OPEN)
    assert image_allowed("quay.io/acme:1", OPEN)
    # a prefix matches at a boundary only
    assert not image_allowed("quay.io/acmeevil/trainer:1", OPEN)
    assert not image_allowed("docker.io/attacker/trainer:1", OPEN)


def test_a_refused_image_or_command_names_its_field():
    refusal = custom_image_refusal({"image": "docker.io/attacker/x:1"}, CLOSED)
    assert (refusal.reason, refusal.field) == (IMAGE_NOT_ALLOWED, "spec.image")
    assert "not enabled" in refusal.message
    assert custom_image_refusal({"image": "docker.io/attacker/x:1"}, OPEN).field == "spec.image"
    # Ballast's own image with a command of one's own runs any code: a custom command needs the permission
    refusal = custom_image_refusal({"image": BALLAST_IMAGE, "command": ["python", "-c", "..."]}, CLOSED)
    assert (refusal.reason, refusal.field) == (IMAGE_NOT_ALLOWED, "spec.command")
    assert custom_image_refusal({"image": "registry.example.com/ml-team/t:1", "command": ["train"]}, OPEN) is None
    assert custom_image_refusal({}, CLOSED) is None


def training_run(**spec):
    return {
        "apiVersion": "ballast.dev/v1alpha1",
        "kind": "TrainingRun",
        "metadata": {
            "name": "credit-1",
            "namespace": "team-a",
            "uid": "u",
            "generation": 1,
            "creationTimestamp": "2026-01-01T12:00:00Z",
        },
        "spec": {
            "model": "credit",
            "datasetRef": {"name": "credit"},
            "estimator": "sklearn.linear_model.LogisticRegression",
            **spec,
        },
        "status": {},
    }


def dataset_with_version(**digests):
    version = {"sha256": SHA, "rows": 10, "valid": True, "snapshotUri": f"file:///s/{SHA}/data.parquet", **digests}
    return {
        "metadata": {"name": "credit"},
        "spec": {"schema": {"columns": [{"name": "x", "type": "float"}]}},
        "status": {"latestVersion": SHA, "versions": [version]},
    }


def condition(outcome, type):
    return next(c for c in outcome.status["conditions"] if c["type"] == type)


def test_a_run_with_a_refused_image_fails_with_the_reason_and_creates_no_job():
    outcome = reconcile_training_run(
        TrainingRunObservation(training_run(image="docker.io/attacker/x:1"), NOW, dataset=dataset_with_version()),
        CLOSED,
    )
    assert outcome.create_jobs == []
    ready, succeeded = condition(outcome, "Ready"), condition(outcome, "Succeeded")
    assert (ready["status"], ready["reason"]) == ("False", IMAGE_NOT_ALLOWED)
    assert succeeded["status"] == "False" and "spec.image" in succeeded["message"]
    assert [e.reason for e in outcome.events] == [IMAGE_NOT_ALLOWED]
    # the same run, where the administrator allows its registry, trains on it
    allowed = reconcile_training_run(
        TrainingRunObservation(
            training_run(image="registry.example.com/ml-team/t:1"), NOW, dataset=dataset_with_version()
        ),
        OPEN,
    )
    [job] = allowed.create_jobs
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example.com/ml-team/t:1"


def test_a_missing_job_is_not_created_again_once_the_image_is_no_longer_allowed():
    body = training_run(image="registry.example.com/ml-team/t:1")
    body["status"] = {"jobName": "credit-1-train", "datasetVersion": SHA, "startedAt": "2026-01-01T11:00:00Z"}
    outcome = reconcile_training_run(TrainingRunObservation(body, NOW, dataset=dataset_with_version()), CLOSED)
    assert outcome.create_jobs == [] and condition(outcome, "Ready")["reason"] == IMAGE_NOT_ALLOWED


def drift_policy(template_spec):
    return {
        "metadata": {"name": "credit-drift", "namespace": "team-a", "uid": "p"},
        "spec": {"action": {"retrain": {"template": {"spec": template_spec}}}},
    }


def test_a_retrain_template_cannot_carry_an_image_its_author_could_not_run():
    template = {"model": "credit", "datasetRef": {"name": "credit"}, "estimator": "x.Y", "image": "docker.io/evil/x:1"}
    refusal = retrain_template_refusal(drift_policy(template), CLOSED)
    assert (refusal.reason, refusal.field) == (IMAGE_NOT_ALLOWED, "spec.action.retrain.template.spec.image")
    assert (
        retrain_template_refusal(drift_policy({**template, "image": "registry.example.com/ml-team/t:1"}), OPEN) is None
    )
    # and the run the operator makes from such a template meets the run's own check
    run = build_retrain_run(drift_policy(template), SHA, NOW, "drift")
    run["metadata"] |= {"generation": 1, "uid": "r", "creationTimestamp": "2026-01-01T12:00:00Z"}
    outcome = reconcile_training_run(TrainingRunObservation(run, NOW, dataset=dataset_with_version()), CLOSED)
    assert outcome.create_jobs == [] and condition(outcome, "Ready")["reason"] == IMAGE_NOT_ALLOWED


def test_settings_read_the_custom_image_policy_from_the_environment():
    assert Settings.from_env({}).custom_images_enabled is False
    settings = Settings.from_env(
        {"BALLAST_CUSTOM_IMAGES_ENABLED": "true", "BALLAST_CUSTOM_IMAGE_PREFIXES": '["quay.io/acme/"]'}
    )
    assert settings.custom_images_enabled and settings.custom_image_prefixes == ("quay.io/acme/",)
    with pytest.raises(ValueError, match="BALLAST_CUSTOM_IMAGE_PREFIXES"):
        Settings.from_env({"BALLAST_CUSTOM_IMAGE_PREFIXES": '["", 3]'})


# --- pvc and secretRef sources ----------------------------------------------------------------

LABELLED_CLAIM = {DATASET_SOURCE_LABEL: "true"}
LABELLED_SECRET = {DATASET_CREDENTIALS_LABEL: "true"}


def test_a_pvc_source_must_name_a_labelled_claim_that_is_not_the_stores():
    source = {"pvc": {"claimName": "raw-data", "path": "x.csv"}}
    assert source_refusal(source, SourceObjects(claim_labels=LABELLED_CLAIM), Settings()) is None
    for found in (
        SourceObjects(),
        SourceObjects(claim_labels={}),
        SourceObjects(claim_labels={DATASET_SOURCE_LABEL: "yes"}),
    ):
        refusal = source_refusal(source, found, Settings())
        assert (refusal.reason, refusal.field) == (SOURCE_NOT_ALLOWED, "spec.source.pvc.claimName")
    store_claim = {"pvc": {"claimName": "ballast-artifacts", "path": "team-b/datasets/x/data.parquet"}}
    refusal = source_refusal(store_claim, SourceObjects(claim_labels=LABELLED_CLAIM), Settings())
    assert refusal.reason == SOURCE_NOT_ALLOWED and "store's own claim" in refusal.message


def test_a_secret_ref_must_name_a_labelled_secret():
    source = {"objectStore": {"uri": "s3://b/x.csv", "secretRef": {"name": "app-db-password"}}}
    refusal = source_refusal(source, SourceObjects(secret_labels={}), Settings())
    assert (refusal.reason, refusal.field) == (SOURCE_NOT_ALLOWED, "spec.source.objectStore.secretRef.name")
    assert source_refusal(source, SourceObjects(secret_labels=LABELLED_SECRET), Settings()) is None
    assert source_refusal({"objectStore": {"uri": "s3://b/x.csv"}}, SourceObjects(), Settings()) is None


def pvc_dataset(claim="raw-data"):
    return {
        "apiVersion": "ballast.dev/v1alpha1",
        "kind": "Dataset",
        "metadata": {"name": "credit", "namespace": "team-a", "uid": "u", "generation": 1},
        "spec": {
            "source": {"pvc": {"claimName": claim, "path": "x.csv"}},
            "schema": {"columns": [{"name": "x", "type": "integer"}]},
        },
        "status": {},
    }


def test_a_dataset_with_an_unlabelled_claim_gets_a_condition_and_no_job():
    looked_up = []

    def lookup(source):
        looked_up.append(source)
        return SourceObjects(claim_labels={})

    outcome = reconcile_dataset(DatasetObservation(pvc_dataset(), NOW, source_objects=lookup), Settings())
    assert outcome.create_jobs == [] and looked_up
    ready = next(c for c in outcome.status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", SOURCE_NOT_ALLOWED)
    assert "spec.source.pvc.claimName" in ready["message"]
    assert outcome.status["ingest"]["succeeded"] is False and outcome.status["ingest"]["finishedAt"]
    # without a lookup (nothing found) it is refused too: fail closed
    assert reconcile_dataset(DatasetObservation(pvc_dataset(), NOW), Settings()).create_jobs == []
    # labelled: the claim is mounted read-only
    allowed = reconcile_dataset(
        DatasetObservation(
            pvc_dataset(), NOW, source_objects=lambda source: SourceObjects(claim_labels=LABELLED_CLAIM)
        ),
        Settings(),
    )
    [job] = allowed.create_jobs
    [volume] = [v for v in job["spec"]["template"]["spec"]["volumes"] if v["name"] == "source"]
    assert volume["persistentVolumeClaim"] == {"claimName": "raw-data", "readOnly": True}


def test_a_missing_ingest_job_is_not_created_again_once_its_claim_lost_the_label():
    body = pvc_dataset()
    body["status"] = {
        "ingest": {"jobName": "credit-ingest-g1-r0", "generation": 1, "refresh": 0, "startedAt": "2026-01-01T11:59:00Z"}
    }
    outcome = reconcile_dataset(
        DatasetObservation(body, NOW, job=None, source_objects=lambda source: SourceObjects(claim_labels={})),
        Settings(),
    )
    assert outcome.create_jobs == [] and outcome.status["ingest"]["reason"] == SOURCE_NOT_ALLOWED


# --- profile and metadata pinned by digest ----------------------------------------------------


def test_the_recorded_digests_reach_the_run_and_the_model_version():
    digests = {"profileSha256": "a" * 64, "metadataSha256": "b" * 64}
    outcome = reconcile_training_run(
        TrainingRunObservation(training_run(), NOW, dataset=dataset_with_version(**digests)), CLOSED
    )
    assert outcome.status["datasetProfileSha256"] == "a" * 64
    assert outcome.status["datasetMetadataSha256"] == "b" * 64
    env = outcome.create_jobs[0]["spec"]["template"]["spec"]["containers"][0]["env"]
    inputs = json.loads(next(e["value"] for e in env if e["name"] == "BALLAST_RUN_INPUTS"))
    assert inputs["dataset"]["profileSha256"] == "a" * 64 and inputs["dataset"]["metadataSha256"] == "b" * 64

    body = training_run()
    body["status"] = {
        "jobName": "credit-1-train",
        "datasetVersion": SHA,
        "startedAt": "2026-01-01T11:00:00Z",
        "datasetProfileSha256": "a" * 64,
        "datasetMetadataSha256": "b" * 64,
    }
    from ballast.reconcile.jobs import JobState

    result = {
        "artifact": {"uri": "file:///m/model.skops", "sha256": "f" * 64},
        "passed": True,
        "gates": [],
        "keyMetric": {"name": "accuracy", "value": 0.9},
    }
    finished = reconcile_training_run(
        TrainingRunObservation(
            body,
            NOW,
            dataset=dataset_with_version(),
            job=JobState(finished=True, succeeded=True),
            termination={"exitCode": 0, "message": json.dumps(result)},
        ),
        CLOSED,
    )
    [(_, version)] = finished.create_objects
    assert version["metadata"]["annotations"]["ballast.dev/dataset-profile-sha256"] == "a" * 64
    assert version["metadata"]["annotations"]["ballast.dev/dataset-metadata-sha256"] == "b" * 64


def test_a_dataset_version_records_the_digests_the_ingest_reported():
    body = pvc_dataset()
    body["spec"]["source"] = {"inline": {"rows": [{"x": 1}]}}
    body["status"] = {
        "ingest": {"jobName": "credit-ingest-g1-r0", "generation": 1, "refresh": 0, "startedAt": "2026-01-01T11:59:00Z"}
    }
    from ballast.reconcile.jobs import JobState

    result = {
        "ok": True,
        "sha256": SHA,
        "rows": 1,
        "valid": True,
        "snapshotUri": "file:///s/data.parquet",
        "profileSha256": "a" * 64,
        "metadataSha256": "b" * 64,
    }
    outcome = reconcile_dataset(
        DatasetObservation(
            body,
            NOW,
            job=JobState(finished=True, succeeded=True),
            termination={"exitCode": 0, "message": json.dumps(result)},
        ),
        Settings(),
    )
    [version] = outcome.status["versions"]
    assert version["profileSha256"] == "a" * 64 and version["metadataSha256"] == "b" * 64


@pytest.fixture
def ingested(tmp_path):
    """A valid version written by the ingest's own code, and the digests it reported."""
    import pandas as pd

    from ballast.api.dataset import DatasetSpec
    from ballast.data.snapshot import ingest_table

    store = ArtifactStore(namespace_store_uri(f"file://{tmp_path}", "team-a"))
    spec = DatasetSpec.model_validate(
        {"source": {"inline": {"rows": [{"x": 1}]}}, "schema": {"columns": [{"name": "x", "type": "float"}]}}
    )
    record = ingest_table(
        store, "credit", spec, pd.DataFrame({"x": [1.0, 2.0, 3.0]}), {"kind": "inline"}, "2026-01-01T00:00:00Z"
    )
    return store, record, tmp_path / "team-a" / "datasets" / "credit" / record.sha256


def test_a_profile_rewritten_after_it_was_recorded_is_refused(ingested):
    store, record, directory = ingested
    assert record.profile_sha256 == store.sha256_of(record.profile_uri)
    assert read_profile(store, "credit", record.sha256, record.profile_sha256)["rows"] == 3
    profile = directory / "profile.json"
    tampered = json.loads(profile.read_text())
    tampered["rows"] = 4  # e.g. bin edges that would hide a drift
    profile.chmod(0o644)
    profile.write_text(json.dumps(tampered))
    with pytest.raises(DigestMismatch) as refused:
        read_profile(store, "credit", record.sha256, record.profile_sha256)
    assert refused.value.reason == "DigestMismatch"


def test_a_snapshots_metadata_rewritten_after_it_was_recorded_is_refused(ingested):
    store, record, directory = ingested
    assert len(read_snapshot(store, record.snapshot_uri, record.sha256, metadata_sha256=record.metadata_sha256)) == 3
    metadata = directory / "metadata.json"
    document = json.loads(metadata.read_text())
    document["source"] = {"kind": "forged"}
    metadata.write_text(json.dumps(document))
    with pytest.raises(DigestMismatch):
        read_snapshot(store, record.snapshot_uri, record.sha256, metadata_sha256=record.metadata_sha256)
    # without a recorded digest (a version from before digests) the content check still applies
    assert len(read_snapshot(store, record.snapshot_uri, record.sha256)) == 3


def test_the_operator_asks_for_a_sources_metadata_only(monkeypatch):
    """A Secret's data never reaches the operator: the GET asks for PartialObjectMetadata."""
    from kubernetes.client.exceptions import ApiException

    from ballast.handlers import source_objects

    asked = []

    def read(method, resource_path, *, accept):
        asked.append((method, resource_path, accept))
        if resource_path.endswith("/absent"):
            raise ApiException(status=404)
        return {"kind": "PartialObjectMetadata", "metadata": {"labels": LABELLED_SECRET}}

    monkeypatch.setattr(source_objects, "request", read)
    lookup = source_objects.source_objects_in("team-a")
    found = lookup({"objectStore": {"uri": "s3://b/x", "secretRef": {"name": "reader"}}})
    assert found == SourceObjects(secret_labels=LABELLED_SECRET)
    [(method, resource_path, accept)] = asked
    assert (method, resource_path) == ("GET", "/api/v1/namespaces/team-a/secrets/reader")
    assert accept.startswith("application/json;as=PartialObjectMetadata")
    assert lookup({"objectStore": {"uri": "s3://b/x", "secretRef": {"name": "absent"}}}) == SourceObjects()
