"""The model server's start-up reads only what was recorded, and only so much of it (issue 12, rows 3, 4, 8).

The training profile sets the drift bins, so a profile rewritten after training is refused with
DigestMismatch; every JSON document read is capped; the prediction log and the server are bounded
by the one ServingLimits the model is loaded with; the artifact cap is the operator's.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from pathlib import Path

import pytest

from ballast.build.serving import build_serving_deployment
from ballast.data import snapshot
from ballast.runtime.serve import parse_serve_args
from ballast.serving import ServingLimits, StartupFailure, load_served_model, loading
from ballast.serving.signature import signature_from_metadata
from ballast.settings import Settings
from ballast.store import METADATA_FILE, PROFILE_FILE, ArtifactStore, dataset_version_key
from tests.support.net import free_port
from tests.unit.test_serving_harness import TrainedModel, iris_frame, trained_model
from tests.unit.test_serving_process import REPO, serve_command


@pytest.fixture(scope="module")
def iris(tmp_path_factory) -> TrainedModel:
    return trained_model(
        tmp_path_factory.mktemp("loading"), "iris", iris_frame(), "sklearn.linear_model.LogisticRegression"
    )


@pytest.fixture
def copy(iris: TrainedModel, tmp_path: Path) -> TrainedModel:
    """The trained model in a store of its own, to tamper with (the model's metadata.json, which
    names the snapshot by URI, moved with it; no digest pins that file)."""
    old_root, new_root = iris.store.uri.removeprefix("file://"), str(tmp_path / "store")
    shutil.copytree(old_root, new_root)
    moved = TrainedModel(
        store=ArtifactStore(f"file://{new_root}"),
        model=iris.model,
        artifact_uri=iris.artifact_uri.replace(old_root, new_root),
        sha256=iris.sha256,
        frame=iris.frame,
        metadata=json.loads(json.dumps(iris.metadata).replace(old_root, new_root)),
        profile=iris.profile,
    )
    path = metadata_path(moved)
    path.chmod(0o644)
    path.write_text(json.dumps(moved.metadata))
    return moved


def path_of(trained: TrainedModel, key_or_uri: str) -> Path:
    return Path(trained.store.uri_of(key_or_uri).removeprefix("file://"))


def profile_path(trained: TrainedModel) -> Path:
    dataset = trained.metadata["lineage"]["dataset"]
    return path_of(trained, dataset_version_key(dataset["name"], dataset["sha256"], PROFILE_FILE))


def metadata_path(trained: TrainedModel) -> Path:
    return path_of(trained, loading.sibling_uri(trained.artifact_uri, METADATA_FILE))


def rewrite_profile(trained: TrainedModel) -> None:
    """What a tenant with write access did in the issue: the first feature's bins moved."""
    path = profile_path(trained)
    profile = json.loads(path.read_bytes())
    column = profile["columns"][trained.columns.numeric[0]]
    column["binEdges"] = [edge * 10 for edge in column["binEdges"]]
    path.chmod(0o644)
    path.write_text(json.dumps(profile))


def test_training_records_the_profile_digest_the_server_checks(iris: TrainedModel):
    signature = signature_from_metadata(iris.metadata, name="iris", version=iris.sha256[:12], sha256=iris.sha256)
    assert signature.dataset_profile_sha256 is not None
    assert signature.dataset_metadata_sha256 is not None
    assert load_served_model(iris.store, iris.source()).service.signature == signature


def test_a_rewritten_profile_is_refused(copy: TrainedModel):
    rewrite_profile(copy)
    with pytest.raises(StartupFailure) as failure:
        load_served_model(copy.store, copy.source())
    assert failure.value.reason == "DigestMismatch"
    assert "profile" in str(failure.value)


def test_a_rewritten_profile_is_written_to_the_termination_log(copy: TrainedModel, tmp_path: Path):
    rewrite_profile(copy)
    port, log = free_port(), tmp_path / "termination-log"
    result = subprocess.run(serve_command(copy, log, port), capture_output=True, text=True, timeout=60, cwd=REPO)
    assert result.returncode == 2, result.stderr
    assert json.loads(log.read_text())["reason"] == "DigestMismatch"


def test_a_rewritten_dataset_metadata_is_refused(copy: TrainedModel):
    snapshot_uri = copy.metadata["lineage"]["dataset"]["snapshotUri"]
    path = path_of(copy, snapshot_uri).parent / METADATA_FILE
    path.chmod(0o644)
    path.write_bytes(path.read_bytes() + b"\n")
    with pytest.raises(StartupFailure) as failure:
        load_served_model(copy.store, copy.source())
    assert failure.value.reason == "DigestMismatch"


def drop_profile_digest(trained: TrainedModel) -> None:
    path = metadata_path(trained)
    metadata = json.loads(path.read_bytes())
    del metadata["reproducibility"]["datasetProfileSha256"]
    path.chmod(0o644)
    path.write_text(json.dumps(metadata))


def test_a_model_trained_before_the_digest_was_recorded_still_loads_with_a_warning(
    copy: TrainedModel, caplog: pytest.LogCaptureFixture
):
    drop_profile_digest(copy)
    with caplog.at_level(logging.WARNING, logger=loading.__name__):
        loaded = load_served_model(copy.store, copy.source())
    assert loaded.service.signature.dataset_profile_sha256 is None
    assert loaded.reference is not None  # the moved copy is whole: only the digest is missing
    assert any("records no sha256 for the training profile" in r.getMessage() for r in caplog.records)
    # the profile was still used: the first feature has its bins
    numeric = loaded.service.live.buckets.numeric
    assert len(numeric.edges[0]) == len(copy.profile["columns"][copy.columns.numeric[0]]["binEdges"])


@pytest.mark.parametrize("value", ["not-a-digest", 12, "A" * 64])
def test_a_recorded_digest_that_is_not_a_sha256_is_refused(copy: TrainedModel, value: object):
    path = metadata_path(copy)
    metadata = json.loads(path.read_bytes())
    metadata["reproducibility"]["datasetProfileSha256"] = value
    path.chmod(0o644)
    path.write_text(json.dumps(metadata))
    with pytest.raises(StartupFailure) as failure:
        load_served_model(copy.store, copy.source())
    assert failure.value.reason == "InvalidMetadata"


def test_metadata_over_its_cap_is_refused(copy: TrainedModel, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(loading, "MAX_METADATA_BYTES", metadata_path(copy).stat().st_size - 1)
    with pytest.raises(StartupFailure) as failure:
        load_served_model(copy.store, copy.source())
    assert failure.value.reason == "ArtifactTooLarge"


def test_a_profile_over_its_cap_is_not_read(
    copy: TrainedModel, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    monkeypatch.setattr(snapshot, "MAX_DATASET_JSON_BYTES", profile_path(copy).stat().st_size - 1)
    with caplog.at_level(logging.WARNING, logger=loading.__name__):
        loaded = load_served_model(copy.store, copy.source())
    assert all(len(edges) == 0 for edges in loaded.service.live.buckets.numeric.edges)
    assert any("no training profile" in r.getMessage() for r in caplog.records)


def test_the_artifact_cap_is_the_one_given(iris: TrainedModel):
    size = path_of(iris, iris.artifact_uri).stat().st_size
    with pytest.raises(StartupFailure) as failure:
        load_served_model(iris.store, iris.source(), max_artifact_bytes=size - 1)
    assert failure.value.reason == "ArtifactTooLarge"
    load_served_model(iris.store, iris.source(), max_artifact_bytes=size)


def test_the_prediction_log_is_bounded_by_the_limits_it_is_loaded_with(iris: TrainedModel):
    limits = ServingLimits(prediction_log_entries=3, prediction_log_bytes=4096, max_rows=7)
    service = load_served_model(iris.store, iris.source(), limits).service
    assert service.limits is limits
    assert (service.prediction_log.capacity, service.prediction_log.max_bytes) == (3, 4096)
    default = load_served_model(iris.store, iris.source()).service
    assert default.prediction_log.max_bytes == ServingLimits().prediction_log_bytes


def test_the_serving_pod_gets_the_operators_artifact_cap():
    version = {
        "apiVersion": "ballast.dev/v1alpha1",
        "kind": "ModelVersion",
        "metadata": {"name": "iris-1", "namespace": "team-a", "uid": "u-1"},
        "spec": {"model": "iris", "artifact": {"uri": "file:///x/model.skops", "sha256": "a" * 64}},
    }
    settings = Settings.from_env({"BALLAST_ARTIFACT_MAX_BYTES": "300Mi"})
    deployment = build_serving_deployment(version, replicas=1, settings=settings)
    env = {
        e["name"]: e["value"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"] if "value" in e
    }
    # what the pod's server parses from that environment is the operator's cap
    assert parse_serve_args([], env).max_artifact_bytes == 300 << 20 == settings.artifact_max_bytes


def test_an_unusable_cap_is_a_usage_error():
    with pytest.raises(SystemExit):
        parse_serve_args(["--artifact-uri", "u", "--artifact-sha256", "a" * 64], {"BALLAST_ARTIFACT_MAX_BYTES": "2GB"})
