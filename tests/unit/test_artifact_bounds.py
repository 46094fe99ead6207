"""The operator's verification of an artifact reads within bounds, whatever the artifact holds.

The issue's case: a 23 KiB artifact whose schema.json deflates from 24 MB of `[],` took the
operator from 80 to 690 MiB (its limit is 512 Mi), and every version is verified again at each
start, so it would have crash-looped for every tenant. Each case here measures the peak of
Python's allocations (tracemalloc) along ballast.registry.verify_artifact, the operator's path,
and asserts it stays small and the ModelVersion gets the right reason.
"""

from __future__ import annotations

import io
import struct
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from ballast.models import artifact_types
from ballast.models.archive import ArchiveLimits
from ballast.models.artifact_types import check_listed_types, scan_schema_types
from ballast.models.digest import sha256_hex
from ballast.models.errors import ArtifactTooLarge, NotASkopsArtifact, UnsafeArchive
from ballast.models.skops_format import load_model, serialize_model
from ballast.registry import verify_artifact
from ballast.serving.errors import StartupFailure
from ballast.serving.loading import ModelSource, load_served_model
from ballast.settings import Settings
from ballast.store import ArtifactStore
from ballast.store.limits import parse_byte_quantity
from ballast.store.local import LocalBackend

X, Y = load_iris(return_X_y=True)
BUDGET_MIB = 64
ROOT_NODE = (
    b'{"__class__": "LogisticRegression", "__module__": "sklearn.linear_model._logistic", '
    b'"__loader__": "ObjectNode", "protocol": 2, "content": ['
)


def peak_mib(action: Callable[[], Any]) -> tuple[Any, float]:
    tracemalloc.start()
    try:
        result = action()
        return result, tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def zip_of(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=compression, compresslevel=9) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return out.getvalue()


def empty_lists_schema(count: int) -> bytes:
    """Valid JSON that json.loads turns into `count` list objects: ~21 bytes of memory per byte."""
    return ROOT_NODE + b"[]," * count + b"[]]}"


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    (tmp_path / "models" / "m").mkdir(parents=True)
    return ArtifactStore(f"file://{tmp_path}")


def place(store: ArtifactStore, data: bytes, name: str = "model.skops") -> tuple[str, str]:
    return store.write_bytes_once(f"models/m/{name}", data), sha256_hex(data)


def test_the_issues_24_kib_artifact_is_refused_in_a_few_mib(store: ArtifactStore):
    data = zip_of({"schema.json": empty_lists_schema(8_000_000)})
    assert len(data) < 24 << 10  # before the fix: 690 MiB of RSS for this file
    uri, sha = place(store, data)
    verification, peak = peak_mib(lambda: verify_artifact(store, uri, sha))
    assert (verification.ok, verification.reason) == (False, "UnsafeArchive")
    assert "zip bomb" in verification.message
    assert peak < BUDGET_MIB, f"{peak:.0f} MiB"
    # the model server's and the trainer's loader refuse it the same way, before skops parses it
    with pytest.raises(UnsafeArchive):
        load_model(data, sha)


def test_the_schema_scan_itself_is_streamed_whatever_the_compression_ratio_allows():
    """Even with no ratio limit, 24 MB of JSON lists is scanned in a few MiB, never parsed whole."""
    data = zip_of({"schema.json": empty_lists_schema(8_000_000)})
    types, peak = peak_mib(lambda: check_listed_types(io.BytesIO(data), ArchiveLimits(max_ratio=10**9)))
    assert types == {"sklearn.linear_model._logistic.LogisticRegression"}
    assert peak < 8, f"{peak:.0f} MiB"


def test_an_artifact_over_the_cap_is_refused_before_it_is_read(store: ArtifactStore):
    data = serialize_model(LogisticRegression(max_iter=500).fit(X, Y)).data
    uri, sha = place(store, data)
    verification = verify_artifact(store, uri, sha, max_bytes=len(data) - 1)
    assert (verification.ok, verification.reason) == (False, "ArtifactTooLarge")
    assert verify_artifact(store, uri, sha, max_bytes=len(data)).ok


class UnderstatingBackend(LocalBackend):
    """A store whose size() says nothing is there, as an object that grows after the stat would."""

    def size(self, key: str) -> int:
        return 0


def test_an_artifact_larger_than_its_reported_size_is_cut_off_while_hashing(tmp_path: Path):
    store = ArtifactStore(f"file://{tmp_path}", backend=UnderstatingBackend(str(tmp_path)))
    uri, sha = place(store, b"PK\x03\x04" + bytes(20 << 20))
    verification, peak = peak_mib(lambda: verify_artifact(store, uri, sha, max_bytes=4 << 20))
    assert (verification.ok, verification.reason) == (False, "ArtifactTooLarge")
    assert peak < 8, f"{peak:.0f} MiB"


def test_an_archive_that_unpacks_beyond_the_cap_is_refused_from_its_headers(store: ArtifactStore):
    rng = np.random.default_rng(0)
    # digits compress about threefold: each member passes the ratio check, all together unpack past 1 MiB
    members = {f"{i}.npy": rng.integers(0, 10, 500_000).astype("u1").tobytes() for i in range(3)}
    data = zip_of({"schema.json": ROOT_NODE + b"]}", **members})
    assert len(data) < 1 << 20
    uri, sha = place(store, data)
    verification = verify_artifact(store, uri, sha, max_bytes=1 << 20)
    assert (verification.ok, verification.reason) == (False, "ArtifactTooLarge")
    assert "unpacked" in verification.message


def _declare_size(data: bytes, member: str, size: int) -> bytes:
    """The archive with member's uncompressed size rewritten in its local and central headers."""
    patched = bytearray(data)
    name = member.encode()
    local = patched.index(b"PK\x03\x04")
    assert patched[local + 30 : local + 30 + len(name)] == name
    struct.pack_into("<I", patched, local + 22, size)
    central = patched.index(b"PK\x01\x02")
    struct.pack_into("<I", patched, central + 24, size)
    return bytes(patched)


def test_a_member_that_inflates_past_its_declared_size_is_never_read_past_it(store: ArtifactStore):
    bomb = zip_of({"schema.json": empty_lists_schema(8_000_000)})
    data = _declare_size(bomb, "schema.json", 4096)  # claims 4 KiB, passes the ratio check
    uri, sha = place(store, data)
    verification, peak = peak_mib(lambda: verify_artifact(store, uri, sha))
    assert (verification.ok, verification.reason) == (False, "UntrustedArtifact")  # not a readable skops archive
    assert peak < 8, f"{peak:.0f} MiB"


def test_an_archive_with_more_members_than_a_model_has_is_refused_before_they_are_listed():
    data = zip_of({"schema.json": ROOT_NODE + b"]}", **{f"{i}.npy": b"" for i in range(300)}})
    with pytest.raises(UnsafeArchive, match="301 members"):
        check_listed_types(io.BytesIO(data), ArchiveLimits(max_members=300))
    assert check_listed_types(io.BytesIO(data), ArchiveLimits(max_members=301))


def test_the_default_member_limit_holds_a_large_gradient_boosting():
    assert ArchiveLimits().max_members >= 4 * 1_500 * 5  # four files a tree, 1,500 iterations, five classes


def test_a_schema_json_beyond_the_scan_limit_is_too_large(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(artifact_types, "MAX_SCHEMA_BYTES", 64 << 10)
    data = zip_of({"schema.json": empty_lists_schema(100_000)}, compression=zipfile.ZIP_STORED)
    with pytest.raises(ArtifactTooLarge, match="schema.json"):
        check_listed_types(io.BytesIO(data))


@pytest.mark.parametrize(
    "schema",
    [
        b'{"__module__": "os", "__class__": "system", "__loader__": "ObjectNode", "protocol": 2}',
        b'{"__class__": "Pipeline", "__module__": "sklearn.pipeline", "__loader__": "ObjectNode", "protocol": 2, '
        b'"content": {"__module__": "os", "__class__": "system", "__loader__": "ObjectNode"}}',
        b'{"__class__": "Pipeline", "__module__": "sklearn.pipeline", "__loader__": "ObjectNode", "protocol": 2, '
        b'"content": {"\\u005f_class__": "system", "\\u005f_module__": "os", "__loader__": "ObjectNode"}}',
        b'{"__class__": "Pipeline", "__module__": "sklearn.pipeline", "__loader__": "ObjectNode", "protocol": 2, '
        b'"content": {"__class__": "sys\\u0074em", "__module__": "os", "__loader__": "ObjectNode"}}',
        b'[{"__class__": "Pipeline", "__module__": "sklearn.pipeline", "__loader__": "ObjectNode", "protocol": 2}]',
        b'{"__class__": "Pipeline", "__module__": "sklearn.pipeline", "__loader__": "ObjectNode"}',
    ],
    ids=[
        "keys reordered",
        "nested node with keys reordered",
        "keys spelled with escapes",
        "name with escapes",
        "root not an object",
        "no protocol",
    ],
)
def test_a_schema_that_hides_a_node_from_the_scan_is_refused(schema: bytes):
    with pytest.raises(NotASkopsArtifact):
        scan_schema_types([schema])


def test_the_scan_finds_the_same_types_however_the_schema_is_chunked():
    data = serialize_model(RandomForestClassifier(n_estimators=12, random_state=0).fit(X, Y)).data
    schema = zipfile.ZipFile(io.BytesIO(data)).read("schema.json")
    assert len(schema) > 3 * artifact_types.OVERLAP
    whole = scan_schema_types([schema])
    assert "sklearn.tree._tree.Tree" in whole
    for size in (997, artifact_types.OVERLAP - 1, artifact_types.OVERLAP + 13, 1 << 20):
        assert scan_schema_types(schema[i : i + size] for i in range(0, len(schema), size)) == whole, size


def test_a_huge_metadata_json_beside_an_artifact_is_not_parsed(store: ArtifactStore):
    model = serialize_model(LogisticRegression(max_iter=500).fit(X, Y))
    uri, sha = place(store, model.data)
    store.write_bytes_once("models/m/metadata.json", b"[" + b"[]," * 2_000_000 + b"[]]")
    verification, peak = peak_mib(lambda: verify_artifact(store, uri, sha))
    assert verification.ok and verification.metadata == {}
    assert peak < 16, f"{peak:.0f} MiB"


def test_a_bad_artifact_among_many_leaves_the_others_verified(store: ArtifactStore):
    """At start the operator verifies every version: one bad artifact is one bad condition."""
    good = serialize_model(LogisticRegression(max_iter=500).fit(X, Y)).data
    bad = zip_of({"schema.json": empty_lists_schema(8_000_000)})
    placed = [place(store, data, f"{i}.skops") for i, data in enumerate([good, bad, good, bad])]
    outcomes, peak = peak_mib(lambda: [verify_artifact(store, uri, sha).reason for uri, sha in placed])
    assert outcomes == ["Verified", "UnsafeArchive", "Verified", "UnsafeArchive"]
    assert peak < BUDGET_MIB, f"{peak:.0f} MiB"


def test_the_store_reads_no_more_than_it_is_told(store: ArtifactStore):
    uri, _ = place(store, bytes(3 << 20))
    with pytest.raises(ArtifactTooLarge):
        store.read_bytes(uri, max_bytes=1 << 20)
    with pytest.raises(ArtifactTooLarge):
        store.sha256_of(uri, max_bytes=1 << 20)
    assert len(store.read_bytes(uri, max_bytes=3 << 20)) == 3 << 20


def test_the_model_server_refuses_an_artifact_over_the_cap(store: ArtifactStore):
    data = serialize_model(LogisticRegression(max_iter=500).fit(X, Y)).data
    uri, sha = place(store, data)
    with pytest.raises(StartupFailure) as failure:
        load_served_model(store, ModelSource(artifact_uri=uri, sha256=sha), max_artifact_bytes=len(data) - 1)
    assert failure.value.reason == "ArtifactTooLarge"


@pytest.mark.parametrize("text, expected", [("2Gi", 2 << 30), ("500Mi", 500 << 20), ("1048576", 1 << 20)])
def test_the_cap_is_a_setting(text: str, expected: int):
    assert Settings.from_env({"BALLAST_ARTIFACT_MAX_BYTES": text}).artifact_max_bytes == expected
    assert parse_byte_quantity(text) == expected


@pytest.mark.parametrize("text", ["0", "2GB", "-1", "1.5Gi", "Gi"])
def test_a_cap_that_is_not_a_byte_quantity_stops_the_operator_at_start(text: str):
    with pytest.raises(ValueError):
        Settings.from_env({"BALLAST_ARTIFACT_MAX_BYTES": text})
