"""A pinned dataset version that left the Dataset's status history is resolved from the store,
verified (row 12 of issue 12)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ballast.data.snapshot import ingest_table
from ballast.lifecycle.stored_version import PinnedVersion, read_stored_version
from ballast.reconcile.trainingrun import TrainingRunObservation, reconcile_training_run, version_to_look_up
from ballast.settings import Settings
from ballast.store import ArtifactStore
from tests.unit.test_data_canonical import as_csv, iris_frame, iris_spec

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
SETTINGS = Settings(dataset_wait_seconds=600)
NEWER = "e" * 64


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(f"file://{tmp_path}/ml")


@pytest.fixture
def record(store: ArtifactStore):
    return ingest_table(store, "iris", iris_spec(), as_csv(iris_frame()), {"kind": "url"}, "2026-01-01T00:00:00Z")


def run(version: str | None = None, status: dict | None = None) -> dict:
    return {
        "apiVersion": "ballast.dev/v1alpha1",
        "kind": "TrainingRun",
        "metadata": {
            "name": "iris-1",
            "namespace": "ml",
            "uid": "u",
            "generation": 1,
            "creationTimestamp": "2026-01-01T11:59:00Z",
        },
        "spec": {
            "model": "iris",
            "datasetRef": {"name": "iris", **({"version": version} if version else {})},
            "estimator": "sklearn.linear_model.LogisticRegression",
        },
        "status": status or {},
    }


def dataset_listing_only_newer() -> dict:
    return {
        "metadata": {"name": "iris"},
        "spec": {"schema": iris_spec().schema_.to_wire()},
        "status": {
            "latestVersion": NEWER,
            "versions": [{"sha256": NEWER, "rows": 1, "valid": True, "snapshotUri": "file:///s/e/data.parquet"}],
        },
    }


def test_a_version_off_the_status_history_is_resolved_from_its_metadata(store, record):
    body, dataset = run(version=record.sha256), dataset_listing_only_newer()
    pinned = version_to_look_up(body, dataset)
    assert pinned == PinnedVersion("iris", record.sha256)
    stored = read_stored_version(store, pinned)
    assert stored.entry == {
        "sha256": record.sha256,
        "rows": 150,
        "createdAt": "2026-01-01T00:00:00Z",
        "valid": True,
        "snapshotUri": record.snapshot_uri,
        "profileUri": record.profile_uri,
        "profileSha256": record.profile_sha256,
        "metadataSha256": record.metadata_sha256,
    }
    outcome = reconcile_training_run(
        TrainingRunObservation(body, NOW, dataset=dataset, stored_version=stored), SETTINGS
    )
    [job] = outcome.create_jobs
    assert outcome.status["datasetVersion"] == record.sha256
    assert outcome.status["datasetSnapshotUri"] == record.snapshot_uri
    assert outcome.status["datasetMetadataSha256"] == record.metadata_sha256
    env = job["spec"]["template"]["spec"]["containers"][0]["env"]
    inputs = json.loads(next(e["value"] for e in env if e["name"] == "BALLAST_RUN_INPUTS"))
    assert inputs["dataset"]["snapshotUri"] == record.snapshot_uri


def test_nothing_is_looked_up_for_a_version_status_still_lists_or_an_unpinned_run(record):
    listed = {"metadata": {"name": "iris"}, "spec": {}, "status": {"versions": [{"sha256": record.sha256}]}}
    assert version_to_look_up(run(version=record.sha256), listed) is None
    assert version_to_look_up(run(), dataset_listing_only_newer()) is None
    assert version_to_look_up(run(version=record.sha256), None) is None


def test_a_started_run_looks_up_its_pinned_version_with_the_digests_it_recorded(store, record):
    status = {
        "jobName": "iris-1-train",
        "datasetVersion": record.sha256,
        "datasetMetadataSha256": record.metadata_sha256,
        "datasetProfileSha256": record.profile_sha256,
    }
    pinned = version_to_look_up(run(status=status), dataset_listing_only_newer())
    assert pinned == PinnedVersion("iris", record.sha256, record.metadata_sha256, record.profile_sha256)
    assert read_stored_version(store, pinned).entry is not None


def test_a_version_in_neither_status_nor_store_still_has_no_version(store):
    missing = "a" * 64
    stored = read_stored_version(store, PinnedVersion("iris", missing))
    assert stored.entry is None and stored.reason == "DatasetNotReady" and "has no version" in stored.message
    outcome = reconcile_training_run(
        TrainingRunObservation(run(version=missing), NOW, dataset=dataset_listing_only_newer(), stored_version=stored),
        SETTINGS,
    )
    assert outcome.create_jobs == []
    ready = next(c for c in outcome.status["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "DatasetNotReady" and f"has no version {missing[:12]}" in ready["message"]


def test_rewritten_metadata_is_refused_against_the_recorded_digest(store, record, tmp_path):
    metadata = tmp_path / "ml" / "datasets" / "iris" / record.sha256 / "metadata.json"
    document = json.loads(metadata.read_text())
    document["rows"] = 151
    metadata.write_text(json.dumps(document))
    stored = read_stored_version(store, PinnedVersion("iris", record.sha256, metadata_sha256=record.metadata_sha256))
    assert (
        stored.entry is None
        and stored.reason == "DatasetVersionInvalid"
        and "metadata.json has sha256" in stored.message
    )
    outcome = reconcile_training_run(
        TrainingRunObservation(
            run(version=record.sha256), NOW, dataset=dataset_listing_only_newer(), stored_version=stored
        ),
        SETTINGS,
    )
    succeeded = next(c for c in outcome.status["conditions"] if c["type"] == "Succeeded")
    assert (succeeded["status"], succeeded["reason"]) == ("False", "DatasetVersionInvalid")


def test_metadata_of_another_version_or_an_invalid_one_or_without_data_is_refused(store, record, tmp_path):
    base = tmp_path / "ml" / "datasets" / "iris" / record.sha256
    document = json.loads((base / "metadata.json").read_text())
    other = "b" * 64
    (base.parent / other).mkdir()
    for name in ("data.parquet", "profile.json"):
        (base.parent / other / name).write_bytes((base / name).read_bytes())
    (base.parent / other / "metadata.json").write_text(json.dumps(document))  # says record.sha256
    assert "another dataset or version" in read_stored_version(store, PinnedVersion("iris", other)).message
    (base / "profile.json").write_text("{}")
    refused = read_stored_version(store, PinnedVersion("iris", record.sha256, profile_sha256=record.profile_sha256))
    assert "profile.json has sha256" in refused.message
    (base / "data.parquet").unlink()
    assert (
        "data.parquet or profile.json is missing"
        in read_stored_version(store, PinnedVersion("iris", record.sha256)).message
    )
    document["valid"] = False
    (base / "metadata.json").write_text(json.dumps(document))
    assert "recorded invalid" in read_stored_version(store, PinnedVersion("iris", record.sha256)).message
