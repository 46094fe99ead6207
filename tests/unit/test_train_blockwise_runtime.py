"""`ballast train` for a run with spec.compute, as a DaskJob's runner pod runs it: against a real
Dask scheduler with worker processes on this machine (distributed's LocalCluster), on a
partitioned snapshot in a file store, writing the same artifact and result as a single-pod run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from distributed import LocalCluster

from ballast.api.dataset import DatasetSchema
from ballast.api.trainingrun import TrainingRunSpec
from ballast.data.partitions import partitioned_source
from ballast.data.snapshot import SnapshotRecord
from ballast.data.sources import SourceSettings
from ballast.data.stream_ingest import ingest_batches
from ballast.runtime import train_blockwise
from ballast.runtime.train import EXIT_FAILED, EXIT_FINISHED, EXIT_INVALID_DATA, TrainOptions, train_and_report
from ballast.runtime.train_blockwise import SCHEDULER_ADDRESS_ENV, train_by_blocks
from ballast.store import ArtifactStore
from ballast.training import DatasetIdentity
from ballast.training.blockwise.orchestrate import InProcess
from tests.unit.test_data_partitioned import spec_for, table, write_parts

COMPUTE = {"engine": "dask", "workers": 2, "blockRows": 4000, "epochs": 2}


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        yield cluster.scheduler_address


def ingested(root: Path, seed: int = 3) -> tuple[ArtifactStore, SnapshotRecord, dict]:
    write_parts(root / "sales", table(20_000, seed=seed), [6_000, 13_000])
    spec = spec_for()
    source = partitioned_source(spec, SourceSettings(pvc_mount_root=str(root)))
    store = ArtifactStore(f"file://{root / 'store'}")
    record = ingest_batches(
        store, "sales", spec, source.batches(2048), source.description, "2026-01-01T00:00:00Z", max_part_bytes=48 << 10
    )
    inputs = {
        "trainingRun": {"namespace": "ml", "name": "sales-1", "uid": "u-1"},
        "spec": {
            "model": "sales",
            "datasetRef": {"name": "sales"},
            "estimator": "sklearn.linear_model.SGDClassifier",
            "seed": 5,
            "compute": COMPUTE,
        },
        "dataset": {
            "name": "sales",
            "sha256": record.sha256,
            "snapshotUri": record.snapshot_uri,
            "schema": spec.schema_.to_wire(),
            "metadataSha256": record.metadata_sha256,
        },
    }
    return store, record, inputs


def train(tmp_path: Path, inputs: dict, store: ArtifactStore, environ: dict) -> tuple[int, dict]:
    run_json = tmp_path / "run.json"
    run_json.write_text(json.dumps(inputs))
    options = TrainOptions(run_json=run_json, store_uri=store.root.uri, termination_log=tmp_path / "termination")
    return train_and_report(options, environ)


def test_the_runner_trains_on_the_workers_and_reports_like_a_single_pod_run(tmp_path: Path, scheduler: str):
    store, record, inputs = ingested(tmp_path)
    code, result = train(tmp_path, inputs, store, {SCHEDULER_ADDRESS_ENV: scheduler})
    assert code == EXIT_FINISHED, result
    assert result["passed"] and result["keyMetric"]["name"] == "accuracy"
    assert result["reproducibility"]["datasetSha256"] == record.sha256
    # the model's record beside it names what, with the data and the seed, made these bytes
    metadata = store.read_json(result["metadataUri"])
    assert metadata["reproducibility"]["blockwise"] == {"blockRows": 4000, "epochs": 2}
    assert store.exists(store.key(result["artifact"]["uri"]))
    # the same model as every block run in this process: workers change nothing of the bytes
    spec = TrainingRunSpec.model_validate(inputs["spec"])
    assert spec.compute is not None
    alone = train_by_blocks(
        spec, spec.compute, store.root.uri, DatasetSchema.model_validate(inputs["dataset"]["schema"]),
        DatasetIdentity("sales", record.sha256, record.snapshot_uri, metadata_sha256=record.metadata_sha256),
        InProcess(),
    )  # fmt: skip
    assert alone.artifact.sha256 == result["artifact"]["sha256"]


def test_no_scheduler_is_engine_unavailable(tmp_path: Path, monkeypatch):
    store, _, inputs = ingested(tmp_path)
    code, result = train(tmp_path, inputs, store, {})
    assert (code, result["reason"]) == (EXIT_FAILED, "EngineUnavailable")
    assert SCHEDULER_ADDRESS_ENV in result["message"]
    monkeypatch.setattr(train_blockwise, "CONNECT_TIMEOUT_SECONDS", 2)
    code, result = train(tmp_path, inputs, store, {SCHEDULER_ADDRESS_ENV: "tcp://127.0.0.1:9"})
    assert (code, result["reason"]) == (EXIT_FAILED, "EngineUnavailable"), result
    assert "tcp://127.0.0.1:9" in result["message"]


def test_a_changed_part_is_invalid_data_from_the_worker_that_read_it(tmp_path: Path, scheduler: str):
    store, record, inputs = ingested(tmp_path, seed=11)  # data no worker has cached
    parts = Path(store.root.path) / store.key(record.snapshot_uri)
    last = sorted(parts.iterdir())[-1]
    last.chmod(0o644)
    last.write_bytes(last.read_bytes()[:-1] + b"\0")
    code, result = train(tmp_path, inputs, store, {SCHEDULER_ADDRESS_ENV: scheduler})
    assert (code, result["reason"]) == (EXIT_INVALID_DATA, "InvalidData"), result
    assert last.name in result["message"] and "sha256" in result["message"]
