"""The artifact store: write-once, atomic, and never outside its root."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from ballast.store import (
    ArtifactConflict,
    ArtifactNotFound,
    ArtifactOutsideStore,
    ArtifactStore,
    DigestMismatch,
    dataset_version_key,
    model_version_key,
)
from ballast.store.keys import key_for_uri, parse_store_root, validate_key

SHA = "a" * 64


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "store"
    path.mkdir()
    return path


@pytest.fixture
def sentinel(tmp_path: Path) -> Path:
    """A directory outside the store that no store operation may ever write into."""
    path = tmp_path / "outside"
    path.mkdir()
    return path


@pytest.fixture
def store(root: Path) -> ArtifactStore:
    return ArtifactStore(f"file://{root}")


def files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file() or p.is_symlink())


# --- write once ------------------------------------------------------------------------------


def test_write_returns_the_uri_and_reads_back(store: ArtifactStore, root: Path):
    uri = store.write_bytes_once("datasets/iris/x/data.bin", b"hello")
    assert uri == f"file://{root}/datasets/iris/x/data.bin"
    assert store.read_bytes(uri) == b"hello" == store.read_bytes("datasets/iris/x/data.bin")
    assert store.exists(uri) and not store.exists("datasets/iris/x/other.bin")
    assert (root / "datasets/iris/x/data.bin").read_bytes() == b"hello"


def test_rewriting_identical_bytes_is_a_no_op(store: ArtifactStore, root: Path):
    store.write_bytes_once("a/b", b"same")
    before = os.stat(root / "a/b")
    store.write_bytes_once("a/b", b"same")
    after = os.stat(root / "a/b")
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)


def test_rewriting_different_bytes_is_a_conflict_and_keeps_the_original(store: ArtifactStore, root: Path):
    store.write_bytes_once("a/b", b"first")
    with pytest.raises(ArtifactConflict, match="written once"):
        store.write_bytes_once("a/b", b"second")
    assert (root / "a/b").read_bytes() == b"first"
    assert files_under(root) == ["a/b"]


def test_json_is_written_canonically_so_equal_documents_do_not_conflict(store: ArtifactStore):
    store.write_json_once("m/metadata.json", {"b": 1, "a": [1, 2]})
    store.write_json_once("m/metadata.json", {"a": [1, 2], "b": 1})
    assert store.read_json("m/metadata.json") == {"a": [1, 2], "b": 1}
    with pytest.raises(ArtifactConflict):
        store.write_json_once("m/metadata.json", {"a": [1, 2], "b": 2})


def test_json_refuses_nan(store: ArtifactStore):
    with pytest.raises(ValueError):
        store.write_json_once("m/x.json", {"a": float("nan")})
    assert not store.exists("m/x.json")


def test_a_write_that_fails_midway_leaves_nothing_behind(store: ArtifactStore, root: Path):
    def broken_source():
        yield b"partial content"
        raise OSError("disk on fire")

    with pytest.raises(OSError, match="disk on fire"):
        store.backend.write_once("a/big.bin", broken_source())
    assert not store.exists("a/big.bin")
    assert files_under(root) == []  # no temporary file left either


def test_readers_never_see_a_partial_file(store: ArtifactStore, root: Path):
    seen_during_write: list[bool] = []

    def slow_source():
        for _ in range(5):
            seen_during_write.append((root / "a/file").exists())
            yield b"x" * 1000

    store.backend.write_once("a/file", slow_source())
    assert seen_during_write == [False] * 5
    assert (root / "a/file").stat().st_size == 5000


def test_racing_writers_of_the_same_key_agree_on_one_content(store: ArtifactStore, root: Path):
    outcomes: list[object] = []
    barrier = threading.Barrier(8)

    def write(content: bytes):
        barrier.wait()
        try:
            store.write_bytes_once("race/key", content)
            outcomes.append("ok")
        except ArtifactConflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=write, args=(b"A" if i % 2 else b"B",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winner = (root / "race/key").read_bytes()
    assert winner in (b"A", b"B")
    # Everyone who wrote the winner's bytes succeeded; everyone else got a conflict.
    assert outcomes.count("ok") == 4 and outcomes.count("conflict") == 4
    assert files_under(root) == ["race/key"]


def test_stream_and_file_writes(store: ArtifactStore, tmp_path: Path):
    local = tmp_path / "local.bin"
    local.write_bytes(os.urandom(3 << 20))
    uri = store.write_file_once("models/m/x/model.skops", local)
    assert store.sha256_of(uri) == hashlib.sha256(local.read_bytes()).hexdigest()
    assert store.size(uri) == 3 << 20


def test_files_are_readable_by_other_pods(store: ArtifactStore, root: Path):
    store.write_bytes_once("a/b", b"x")
    assert (root / "a/b").stat().st_mode & 0o044 == 0o044


# --- reading and digests ---------------------------------------------------------------------


def test_reading_what_is_not_there(store: ArtifactStore):
    with pytest.raises(ArtifactNotFound):
        store.read_bytes("nothing/here")
    with pytest.raises(ArtifactNotFound):
        store.sha256_of("nothing/here")


def test_verify_sha256(store: ArtifactStore, root: Path):
    uri = store.write_bytes_once("m/model.skops", b"model bytes")
    store.verify_sha256(uri, hashlib.sha256(b"model bytes").hexdigest())
    (root / "m/model.skops").chmod(0o644)
    (root / "m/model.skops").write_bytes(b"tampered")
    with pytest.raises(DigestMismatch) as caught:
        store.verify_sha256(uri, hashlib.sha256(b"model bytes").hexdigest())
    assert caught.value.actual == hashlib.sha256(b"tampered").hexdigest()
    assert caught.value.reason == "DigestMismatch"


def test_layout_keys():
    assert dataset_version_key("iris", SHA, "data.parquet") == f"datasets/iris/{SHA}/data.parquet"
    assert model_version_key("churn", SHA, "metadata.json") == f"models/churn/{SHA}/metadata.json"
    with pytest.raises(ValueError):
        dataset_version_key("iris", "not-a-sha", "data.parquet")
    with pytest.raises(ArtifactOutsideStore):
        dataset_version_key("../etc", SHA, "data.parquet")


# --- escapes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "../outside/x",
        "a/../../outside/x",
        "a/./b",
        "/etc/passwd",
        "a//b",
        "",
        "a/.hidden",
        "a\\..\\b",
        "a/b/",
        "a/\x00b",
    ],
)
def test_hostile_keys_are_refused_and_write_nothing(store: ArtifactStore, root: Path, sentinel: Path, key: str):
    with pytest.raises(ArtifactOutsideStore):
        store.write_bytes_once(key, b"x")
    with pytest.raises(ArtifactOutsideStore):
        store.read_bytes(key)
    assert files_under(sentinel) == [] and files_under(root) == []


@pytest.mark.parametrize(
    "uri",
    [
        "file:///etc/passwd",
        "file://{root}/../outside/x",
        "file://{root}-sibling/x",
        "file://otherhost{root}/x",
        "s3://{root}/x",
        "{root}/x",
    ],
)
def test_uris_outside_the_root_are_refused(store: ArtifactStore, root: Path, sentinel: Path, uri: str):
    uri = uri.format(root=root)
    with pytest.raises(ArtifactOutsideStore):
        store.write_bytes_once(uri, b"x")
    assert files_under(sentinel) == []


def test_a_symlinked_directory_out_of_the_root_is_refused(store: ArtifactStore, root: Path, sentinel: Path):
    (root / "datasets").mkdir()
    (root / "datasets" / "evil").symlink_to(sentinel, target_is_directory=True)
    with pytest.raises(ArtifactOutsideStore):
        store.write_bytes_once("datasets/evil/x/data.bin", b"x")
    with pytest.raises(ArtifactOutsideStore):
        store.write_bytes_once("datasets/evil/data.bin", b"x")
    assert files_under(sentinel) == []


def test_a_symlinked_file_out_of_the_root_is_neither_read_nor_overwritten(
    store: ArtifactStore, root: Path, sentinel: Path
):
    secret = sentinel / "secret"
    secret.write_bytes(b"secret")
    (root / "a").mkdir()
    (root / "a" / "b").symlink_to(secret)
    with pytest.raises(ArtifactOutsideStore):
        store.read_bytes("a/b")
    with pytest.raises(ArtifactOutsideStore):
        store.write_bytes_once("a/b", b"secret")
    assert secret.read_bytes() == b"secret"


def test_a_symlink_inside_the_root_is_followed(store: ArtifactStore, root: Path):
    (root / "real").mkdir()
    (root / "alias").symlink_to(root / "real", target_is_directory=True)
    store.write_bytes_once("alias/x", b"x")
    assert (root / "real" / "x").read_bytes() == b"x"


def test_a_root_that_is_itself_a_symlink_works(tmp_path: Path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    store = ArtifactStore(f"file://{tmp_path / 'link'}")
    store.write_bytes_once("a/b", b"x")
    assert (real / "a" / "b").read_bytes() == b"x"


# --- roots and keys (pure) -----------------------------------------------------------------


def test_parse_store_root():
    assert parse_store_root("file:///var/lib/ballast/").path == "/var/lib/ballast"
    assert parse_store_root("s3://bucket/prefix/").path == "bucket/prefix"
    assert parse_store_root("s3://bucket").uri == "s3://bucket"
    for bad in ("/var/lib/ballast", "file://relative/path", "s3://", "s3://bucket/../x", "file:///a?b=c"):
        with pytest.raises(ValueError):
            parse_store_root(bad)


def test_object_store_uris_must_match_bucket_and_prefix():
    root = parse_store_root("s3://models/prod")
    assert key_for_uri(root, "s3://models/prod/datasets/x") == "datasets/x"
    for other in (
        "s3://other/prod/datasets/x",
        "s3://models/production/x",
        "s3://models/x",
        "gs://models/prod/x",
        "s3://models/prod/../x",
    ):
        with pytest.raises(ArtifactOutsideStore):
            key_for_uri(root, other)


def test_valid_keys_pass_through():
    assert validate_key("datasets/credit-risk/abc_1.0/data.parquet") == "datasets/credit-risk/abc_1.0/data.parquet"


# --- the fsspec backend (object stores), on fsspec's in-memory filesystem -----------------


def test_fsspec_backend_has_the_same_write_once_semantics():
    import uuid

    store = ArtifactStore(f"memory://ballast-{uuid.uuid4().hex}/prefix")
    uri = store.write_bytes_once("a/b", b"one")
    assert uri.startswith("memory://ballast-") and uri.endswith("/prefix/a/b")
    assert store.read_bytes(uri) == b"one"
    store.write_bytes_once("a/b", b"one")
    with pytest.raises(ArtifactConflict):
        store.write_bytes_once("a/b", b"two")
    assert store.read_bytes("a/b") == b"one"
    with pytest.raises(ArtifactNotFound):
        store.read_bytes("a/missing")
    assert not store.exists("a")  # a prefix is not an artifact
    with pytest.raises(ArtifactOutsideStore):
        store.read_bytes("memory://elsewhere/prefix/a/b")
