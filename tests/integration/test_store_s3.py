"""The artifact store and the objectStore source against a real S3-compatible server.

The server is VersityGW (tests/s3/build.sh builds it from the Go module proxy and caches it),
started here on 127.0.0.1 over a temporary directory: real HTTP, real SigV4 signatures, real
objects on disk. Nothing is skipped: if the server cannot be built or started, the tests fail
and say why.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ballast.data.snapshot import ingest_table, read_snapshot
from ballast.runtime.ingest import IngestOptions, run_ingest
from ballast.store import (
    ArtifactConflict,
    ArtifactNotFound,
    ArtifactOutsideStore,
    ArtifactStore,
    DigestMismatch,
    StoreUnavailable,
)
from tests.support.s3server import S3Server, running_s3_server
from tests.unit.test_data_canonical import as_csv, iris_frame, iris_spec


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with running_s3_server(tmp_path_factory.mktemp("s3"), host="127.0.0.1") as server:
        yield server


@pytest.fixture
def bucket(s3: S3Server) -> str:
    return s3.new_bucket()


@pytest.fixture
def store(s3: S3Server, bucket: str) -> ArtifactStore:
    return ArtifactStore.from_env({"BALLAST_STORE_URI": f"s3://{bucket}/ballast", **s3.environ()})


def test_write_once_on_a_real_s3_server(s3: S3Server, bucket: str, store: ArtifactStore):
    uri = store.write_bytes_once("models/m/abc/model.skops", b"model bytes")
    assert uri == f"s3://{bucket}/ballast/models/m/abc/model.skops"
    # The object is really on the server's disk, not in some in-process fake.
    assert (s3.data_dir / bucket / "ballast/models/m/abc/model.skops").read_bytes() == b"model bytes"
    assert store.read_bytes(uri) == b"model bytes" and store.exists(uri)
    store.write_bytes_once(uri, b"model bytes")  # identical: a no-op
    with pytest.raises(ArtifactConflict):
        store.write_bytes_once(uri, b"other bytes")
    assert store.read_bytes(uri) == b"model bytes"
    with pytest.raises(ArtifactNotFound):
        store.read_bytes("models/m/abc/missing")
    assert not store.exists("models/m/abc")  # a prefix is not an artifact


def test_large_artifacts_stream_through_multipart_uploads(store: ArtifactStore, tmp_path: Path):
    import hashlib

    local = tmp_path / "big.bin"
    local.write_bytes(os.urandom(70 << 20))  # above the in-memory spool and arrow's part size
    uri = store.write_file_once("models/m/big/model.bin", local)
    assert store.sha256_of(uri) == hashlib.sha256(local.read_bytes()).hexdigest()
    assert store.size(uri) == 70 << 20


def test_uris_of_another_bucket_or_prefix_are_refused(s3: S3Server, bucket: str, store: ArtifactStore):
    other = s3.new_bucket()
    for uri in (
        f"s3://{other}/ballast/x",
        f"s3://{bucket}/elsewhere/x",
        f"s3://{bucket}/ballast/../x",
        f"file:///{bucket}/ballast/x",
    ):
        with pytest.raises(ArtifactOutsideStore):
            store.write_bytes_once(uri, b"x")
    assert list((s3.data_dir / other).iterdir()) == []


def test_wrong_credentials_are_refused_by_the_server(s3: S3Server, bucket: str):
    intruder = ArtifactStore.from_env(
        {"BALLAST_STORE_URI": f"s3://{bucket}/ballast", **s3.environ(secret="not-the-secret")}
    )
    with pytest.raises(StoreUnavailable):
        intruder.write_bytes_once("x/y", b"x")
    assert not (s3.data_dir / bucket / "ballast").exists()


def test_dataset_snapshots_in_s3_verify_and_detect_tampering(s3: S3Server, bucket: str, store: ArtifactStore):
    record = ingest_table(store, "iris", iris_spec(), as_csv(iris_frame()), {"kind": "url"}, "2026-01-01T00:00:00Z")
    assert record.valid and record.snapshot_uri.startswith(f"s3://{bucket}/ballast/datasets/iris/")
    assert read_snapshot(store, record.snapshot_uri, record.sha256).shape == (150, 5)
    # Someone with write access to the bucket replaces the object through the S3 API
    # (the store itself would refuse: it never rewrites a key).
    tampered = iris_frame()
    tampered.loc[0, "petal width (cm)"] = 9.9
    with store.backend.fs.open(f"{bucket}/ballast/{store.key(record.snapshot_uri)}", "wb") as out:
        tampered.to_parquet(out, index=False)
    with pytest.raises(DigestMismatch):
        read_snapshot(store, record.snapshot_uri, record.sha256)
    # Bytes altered behind the server's back are caught too (the gateway's own checksum first).
    on_disk = s3.data_dir / bucket / "ballast" / store.key(record.snapshot_uri)
    on_disk.write_bytes(b"garbage")
    with pytest.raises((DigestMismatch, StoreUnavailable)):
        read_snapshot(store, record.snapshot_uri, record.sha256)


def test_ingest_from_an_object_store_source_into_an_s3_store(s3: S3Server, tmp_path: Path):
    data_bucket, store_bucket = s3.new_bucket(), s3.new_bucket()
    (s3.data_dir / data_bucket / "incoming").mkdir()
    iris_frame().to_parquet(s3.data_dir / data_bucket / "incoming" / "iris.parquet", index=False)
    spec = {
        **iris_spec().model_dump(by_alias=True, exclude_none=True, mode="json"),
        "format": "parquet",
        "source": {
            "objectStore": {
                "uri": f"s3://{data_bucket}/incoming/iris.parquet",
                "secretRef": {"name": "data-credentials"},
            }
        },
    }
    log = tmp_path / "termination-log"
    # The source's Secret arrives with the SOURCE_ prefix, the store's unprefixed, as the Job mounts them.
    environ = {**s3.environ(prefix="SOURCE_"), **s3.environ()}
    code = run_ingest(
        IngestOptions(
            dataset_json_text=json.dumps(spec),
            name="iris",
            store_uri=f"s3://{store_bucket}/ballast",
            termination_log=str(log),
            environ=environ,
        )
    )
    result = json.loads(log.read_text())
    assert code == 0, result
    assert result["valid"] and result["rows"] == 150
    assert result["snapshotUri"] == f"s3://{store_bucket}/ballast/datasets/iris/{result['sha256']}/data.parquet"
    assert (
        result["sha256"]
        == ingest_table(
            ArtifactStore(f"file://{tmp_path / 'local'}"),
            "iris",
            iris_spec(),
            as_csv(iris_frame()),
            {},
            "2026-01-01T00:00:00Z",
        ).sha256
    )

    spec["source"]["objectStore"]["uri"] = f"s3://{data_bucket}/incoming/missing.parquet"
    code = run_ingest(
        IngestOptions(
            dataset_json_text=json.dumps(spec),
            name="iris",
            store_uri=f"s3://{store_bucket}/ballast",
            termination_log=str(log),
            environ=environ,
        )
    )
    assert code == 2 and json.loads(log.read_text())["reason"] == "SourceNotFound"


def test_a_partitioned_object_store_prefix_is_ingested_into_an_s3_store_and_read_back(s3: S3Server, tmp_path: Path):
    data_bucket, store_bucket = s3.new_bucket(), s3.new_bucket()
    frame = iris_frame()
    for name, start, stop in (("day=1/a.parquet", 0, 50), ("day=1/b.parquet", 50, 120), ("day=2/c.parquet", 120, 150)):
        (s3.data_dir / data_bucket / "sales" / name).parent.mkdir(parents=True, exist_ok=True)
        frame.iloc[start:stop].to_parquet(s3.data_dir / data_bucket / "sales" / name, index=False)
    (s3.data_dir / data_bucket / "sales" / "README.txt").write_text("not a part")
    spec = {
        **iris_spec().model_dump(by_alias=True, exclude_none=True, mode="json"),
        "format": "parquet",
        "source": {"objectStore": {"uri": f"s3://{data_bucket}/sales/", "partitioned": True}},
    }
    log = tmp_path / "termination-log"
    code = run_ingest(
        IngestOptions(
            dataset_json_text=json.dumps(spec),
            name="iris",
            store_uri=f"s3://{store_bucket}/ballast",
            termination_log=str(log),
            environ=s3.environ(),
        )
    )
    result = json.loads(log.read_text())
    assert code == 0, result
    assert result["valid"] and result["rows"] == 150
    assert result["snapshotUri"] == f"s3://{store_bucket}/ballast/datasets/iris/{result['sha256']}/data"
    store = ArtifactStore.from_env({"BALLAST_STORE_URI": f"s3://{store_bucket}/ballast", **s3.environ()})
    read = read_snapshot(store, result["snapshotUri"], result["sha256"])
    assert read.shape == (150, 5) and read["sepal length (cm)"].tolist() == frame["sepal length (cm)"].tolist()
    # The same rows in one file of a folder on a volume: the same version, whatever the files.
    (tmp_path / "volume" / "sales").mkdir(parents=True)
    frame.to_parquet(tmp_path / "volume" / "sales" / "all.parquet", index=False)
    spec["source"] = {"pvc": {"claimName": "data", "path": "sales", "partitioned": True}}
    code = run_ingest(
        IngestOptions(
            dataset_json_text=json.dumps(spec),
            name="iris",
            store_uri=f"file://{tmp_path / 'local'}",
            termination_log=str(log),
            source_root=str(tmp_path / "volume"),
            environ={},
        )
    )
    assert code == 0 and json.loads(log.read_text())["sha256"] == result["sha256"]
