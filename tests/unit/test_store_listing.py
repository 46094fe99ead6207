"""Listing and deleting in the store (what `ballast gc` and `ballast erase` use), for file:// and
an fsspec filesystem (memory:// stands in for s3://: the same FsspecBackend)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ballast.store import ArtifactOutsideStore, ArtifactStore


@pytest.fixture(params=["file", "memory"])
def store(request, tmp_path: Path) -> ArtifactStore:
    if request.param == "file":
        return ArtifactStore(f"file://{tmp_path}/root")
    return ArtifactStore(f"memory://bucket-{tmp_path.name}/prefix")


def test_listing_names_every_object_under_a_prefix_with_size_and_time(store: ArtifactStore):
    store.write_bytes_once("datasets/credit/" + "a" * 64 + "/metadata.json", b"{}")
    store.write_bytes_once("datasets/credit/" + "a" * 64 + "/data.parquet", b"12345")
    store.write_bytes_once("models/m/" + "b" * 64 + "/model.skops", b"x")
    everything = store.list()
    assert [o.key for o in everything] == [
        "datasets/credit/" + "a" * 64 + "/data.parquet",
        "datasets/credit/" + "a" * 64 + "/metadata.json",
        "models/m/" + "b" * 64 + "/model.skops",
    ]
    assert everything[0].size == 5 and everything[0].modified is not None
    assert [o.key for o in store.list("models")] == ["models/m/" + "b" * 64 + "/model.skops"]
    assert store.list("nothing/here") == []


def test_delete_removes_one_object_and_reports_a_missing_one(store: ArtifactStore):
    store.write_bytes_once("datasets/d/x/metadata.json", b"{}")
    store.write_bytes_once("datasets/d/y/metadata.json", b"{}")
    assert store.delete("datasets/d/x/metadata.json") is True
    assert store.delete("datasets/d/x/metadata.json") is False
    assert [o.key for o in store.list()] == ["datasets/d/y/metadata.json"]
    with pytest.raises(ArtifactOutsideStore):
        store.delete("../elsewhere")


def test_file_listing_skips_temporary_files_and_symlinks_and_delete_prunes_empty_directories(tmp_path: Path):
    store = ArtifactStore(f"file://{tmp_path}/root")
    store.write_bytes_once("datasets/d/v/metadata.json", b"{}")
    outside = tmp_path / "secret"
    outside.write_text("s")
    base = tmp_path / "root" / "datasets" / "d" / "v"
    (base / ".tmp-1.partial").write_text("half")
    os.symlink(outside, base / "link.json")
    os.symlink(tmp_path, tmp_path / "root" / "datasets" / "loop")
    assert [o.key for o in store.list()] == ["datasets/d/v/metadata.json"]
    store.delete("datasets/d/v/link.json")  # the link goes, never its target
    assert outside.read_text() == "s"
    (base / ".tmp-1.partial").unlink()
    store.delete("datasets/d/v/metadata.json")
    assert not (tmp_path / "root" / "datasets" / "d").exists() and (tmp_path / "root").is_dir()


def test_directories_name_one_level_of_subdirectories_only(store: ArtifactStore):
    store.write_bytes_once("team-a/datasets/d/" + "a" * 64 + "/metadata.json", b"{}")
    store.write_bytes_once("team-b/models/m/" + "b" * 64 + "/model.skops", b"x")
    store.write_bytes_once("README", b"not a directory")
    assert store.directories() == ["team-a", "team-b"]
    assert store.directories("team-a") == ["datasets"]
    assert store.directories("nothing") == []
    with pytest.raises(ArtifactOutsideStore):
        store.directories("../elsewhere")


def test_file_directories_skip_symlinks_and_names_that_are_not_key_segments(tmp_path: Path):
    store = ArtifactStore(f"file://{tmp_path}/root")
    store.write_bytes_once("team-a/README", b"x")
    (tmp_path / "root" / "lost+found").mkdir()
    (tmp_path / "root" / ".partial").mkdir()
    (tmp_path / "victim").mkdir()
    os.symlink(tmp_path / "victim", tmp_path / "root" / "planted")
    assert store.directories() == ["team-a"]
