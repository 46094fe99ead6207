"""Hostile model artifacts and artifact URIs, through the two places that read them: the
operator's verification of a ModelVersion (ballast.registry.verify_artifact) and the model
server's start-up (ballast.serving.loading.load_served_model). No cluster.

Each case must be refused with a reason, nothing built from it, and nothing written
anywhere: a sentinel file the payload would create never appears, and a directory beside
the store that no store operation may touch stays as it was.
"""

from __future__ import annotations

import copy
import io
import json
import os
import pickle
import threading
import uuid
import zipfile
from pathlib import Path

import fsspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.svm import SVC

from ballast.models.digest import sha256_hex
from ballast.models.errors import ModelArtifactError
from ballast.models.skops_format import load_model, serialize_model
from ballast.registry import Verification, verify_artifact
from ballast.serving.errors import StartupFailure
from ballast.serving.loading import ModelSource, load_served_model
from ballast.store import ArtifactStore
from tests.badinput.generate import json_values

# the same payloads the model-format tests use: unpickling one, or skops building the other, creates a file
from tests.unit.test_models_skops import SetStateSentinel, WritesSentinel

X, Y = load_iris(return_X_y=True)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "store" / "models" / "m").mkdir(parents=True)
    return tmp_path / "store"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """Beside the store: a secret that must never be read through it, and room for sentinels."""
    (tmp_path / "outside").mkdir()
    secret = serialize_model(LogisticRegression(max_iter=500).fit(X, Y))
    (tmp_path / "outside" / "secret.skops").write_bytes(secret.data)
    return tmp_path / "outside"


def place(root: Path, name: str, data: bytes) -> tuple[str, str]:
    """The artifact written into the store by hand, as an intruder with the volume would; (uri, sha256)."""
    path = root / "models" / "m" / name
    path.write_bytes(data)
    return f"file://{path}", sha256_hex(data)


def refusals(store: ArtifactStore, uri: str, sha256: str) -> tuple[Verification, StartupFailure]:
    """What the operator and the model server each make of the artifact."""
    verification = verify_artifact(store, uri, sha256)
    with pytest.raises(StartupFailure) as failure:
        load_served_model(store, ModelSource(artifact_uri=uri, sha256=sha256))
    return verification, failure.value


def snapshot_of(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*") if p.is_file()}


def test_a_pickle_with_a_payload_is_refused_and_never_executed(root: Path, outside: Path):
    sentinel = outside / f"pwned-{uuid.uuid4().hex}"
    uri, sha = place(root, "model.skops", pickle.dumps(WritesSentinel(sentinel)))
    verification, failure = refusals(ArtifactStore(f"file://{root}"), uri, sha)
    assert (verification.ok, verification.reason, failure.reason) == (False, "UntrustedArtifact", "UntrustedArtifact")
    assert "pickle" in verification.message
    assert not sentinel.exists()


def test_a_pickle_inside_a_zip_that_looks_like_skops_is_refused_and_never_executed(root: Path, outside: Path):
    sentinel = outside / f"pwned-{uuid.uuid4().hex}"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("schema.json", b'{"__class__": "x", "__module__": "y", "content": {}}')
        archive.writestr("model.pkl", pickle.dumps(WritesSentinel(sentinel)))
    uri, sha = place(root, "model.skops", buffer.getvalue())
    verification, failure = refusals(ArtifactStore(f"file://{root}"), uri, sha)
    assert (verification.ok, verification.reason, failure.reason) == (False, "UntrustedArtifact", "UntrustedArtifact")
    assert not sentinel.exists()


def test_a_skops_file_with_a_type_ballast_does_not_trust_is_refused(root: Path):
    uri, sha = place(root, "model.skops", serialize_model(SVC().fit(X, Y)).data)
    verification, failure = refusals(ArtifactStore(f"file://{root}"), uri, sha)
    assert (verification.ok, verification.reason, failure.reason) == (False, "UntrustedArtifact", "UntrustedArtifact")
    assert "sklearn.svm._classes.SVC" in verification.message


def test_a_skops_file_with_a_custom_type_is_refused_and_the_type_never_built(root: Path, outside: Path):
    SetStateSentinel.sentinel = outside / f"built-{uuid.uuid4().hex}"
    try:
        uri, sha = place(root, "model.skops", serialize_model({"model": SetStateSentinel()}).data)
        verification, failure = refusals(ArtifactStore(f"file://{root}"), uri, sha)
        assert (verification.reason, failure.reason) == ("UntrustedArtifact", "UntrustedArtifact")
        assert "tests.unit.test_models_skops.SetStateSentinel" in verification.message
        assert not SetStateSentinel.sentinel.exists()
    finally:
        SetStateSentinel.sentinel = None


@pytest.mark.parametrize("how", ["dot-dot", "encoded dot-dot", "sibling directory", "another scheme", "no scheme"])
def test_a_uri_that_leaves_the_store_is_refused_without_reading(root: Path, outside: Path, how: str):
    secret = outside / "secret.skops"
    uri = {
        "dot-dot": f"file://{root}/models/../../outside/secret.skops",
        "encoded dot-dot": f"file://{root}/models/%2e%2e/%2e%2e/outside/secret.skops",
        "sibling directory": f"file://{root}-sibling/secret.skops",
        "another scheme": f"s3:/{outside}/secret.skops",
        "no scheme": str(secret),
    }[how]
    before = snapshot_of(outside)
    verification, failure = refusals(ArtifactStore(f"file://{root}"), uri, sha256_hex(secret.read_bytes()))
    assert (verification.ok, verification.reason) == (False, "ArtifactOutsideStore")
    assert failure.reason == "ArtifactOutsideStore"
    assert snapshot_of(outside) == before and snapshot_of(root) == {}


def test_a_symlink_planted_in_the_store_is_not_followed_out_of_it(root: Path, outside: Path):
    secret = outside / "secret.skops"
    (root / "models" / "m" / "model.skops").symlink_to(secret)
    (root / "models" / "escape").symlink_to(outside, target_is_directory=True)
    before = snapshot_of(outside)
    for uri in (f"file://{root}/models/m/model.skops", f"file://{root}/models/escape/secret.skops"):
        verification, failure = refusals(ArtifactStore(f"file://{root}"), uri, sha256_hex(secret.read_bytes()))
        assert (verification.reason, failure.reason) == ("ArtifactOutsideStore", "ArtifactOutsideStore"), uri
        assert "symlink" in verification.message
    assert snapshot_of(outside) == before


def test_an_object_store_key_outside_the_configured_prefix_is_refused_though_it_exists():
    bucket = f"ballast-{uuid.uuid4().hex[:8]}"
    model = serialize_model(LogisticRegression(max_iter=500).fit(X, Y))
    memory = fsspec.filesystem("memory")
    for key in ("prod-other/models/m/model.skops", "other/models/m/model.skops"):
        memory.pipe(f"/{bucket}/{key}", model.data)
    store = ArtifactStore(f"memory://{bucket}/prod")
    for uri in (
        f"memory://{bucket}/prod-other/models/m/model.skops",
        f"memory://{bucket}/other/models/m/model.skops",
        f"memory://{bucket}/prod/../other/models/m/model.skops",
    ):
        verification, failure = refusals(store, uri, model.sha256)
        assert (verification.reason, failure.reason) == ("ArtifactOutsideStore", "ArtifactOutsideStore"), uri
    assert not memory.exists(f"/{bucket}/prod")  # refused, and nothing written under the prefix either


@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_something_that_is_not_a_file_is_no_artifact_and_never_blocks(root: Path, kind: str):
    path = root / "models" / "m" / "model.skops"
    path.mkdir() if kind == "directory" else os.mkfifo(path)
    outcome: list[Verification] = []
    # a FIFO opened for reading waits for a writer: in the operator that was a handler thread
    # stuck for good; the thread and its deadline turn a hang into a failure
    worker = threading.Thread(
        target=lambda: outcome.append(verify_artifact(ArtifactStore(f"file://{root}"), f"file://{path}", "0" * 64)),
        daemon=True,
    )
    worker.start()
    worker.join(timeout=10)
    if worker.is_alive():
        with open(path, "wb"):  # release the blocked reader so the thread can end
            pass
        pytest.fail(f"verifying a {kind} blocked")
    assert (outcome[0].ok, outcome[0].reason) == (False, "ArtifactMissing")
    assert "not a regular file" in outcome[0].message


def _skops_files() -> tuple[dict, dict[str, bytes]]:
    """A real model's archive: its parsed schema.json and every file in it."""
    archive = zipfile.ZipFile(io.BytesIO(serialize_model(LogisticRegression(max_iter=500).fit(X, Y)).data))
    files = {name: archive.read(name) for name in archive.namelist()}
    return json.loads(files["schema.json"]), files


def _json_paths(node, path=()):
    yield path
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        yield from _json_paths(child, path + (key,))


SCHEMA, FILES = _skops_files()
SKOPS_NODE = st.fixed_dictionaries(
    {
        "__class__": st.text(max_size=8),
        "__module__": st.sampled_from(["builtins", "numpy", "sklearn", "os", ""]),
        "__loader__": st.sampled_from(["ObjectNode", "DictNode", "ListNode", "NdArrayNode", "TypeNode", "Nope"]),
        "protocol": st.one_of(st.integers(-1, 3), st.none(), st.text(max_size=2)),
        "content": json_values(6),
    }
)


def _archive(schema) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in FILES.items():
            archive.writestr(name, json.dumps(schema) if name == "schema.json" else content)
    return buffer.getvalue()


def _forged(draw) -> object:  # draw: hypothesis's data.draw
    """A schema.json that is anything at all, a skops-like node, or the real one with one part replaced."""
    shape = draw(st.sampled_from(["anything", "node", "edited"]))
    if shape == "anything":
        return draw(json_values(10))
    if shape == "node":
        return draw(SKOPS_NODE)
    schema = copy.deepcopy(SCHEMA)
    *parents, leaf = draw(st.sampled_from(list(_json_paths(SCHEMA))[1:]))
    node = schema
    for key in parents:
        node = node[key]
    node[leaf] = draw(json_values(4))
    return schema


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_forged_schema_json_is_refused_with_a_reason_never_a_crash(root: Path, data):
    """Before the fix, skops's own TypeError escaped from both: a traceback in the operator's
    handler, and a model server that died without a reason."""
    payload = _archive(_forged(data.draw))
    uri, sha = place(root, "forged.skops", payload)
    store = ArtifactStore(f"file://{root}")
    verification = verify_artifact(store, uri, sha)
    try:
        load_model(payload, sha)
    except ModelArtifactError as error:
        assert error.reason in ("UntrustedArtifact", "InvalidArtifact")
    else:
        assert verification.ok, "the model server built what the operator refused"


def test_a_forest_with_one_child_index_edited_is_never_served(root: Path):
    """Issue 12, row 7: the operator checks types, not trees (it never builds a model), so it
    verifies the file; the model server builds it, checks every tree and refuses to start.
    Without that check this forest passed warm-up and segfaulted on a request."""
    from sklearn.ensemble import RandomForestClassifier

    from tests.unit.test_models_tree_structure import _edit_first_array, _is_tree_nodes, _set_child_out_of_range

    forest = serialize_model(RandomForestClassifier(n_estimators=3, random_state=0).fit(X, Y)).data
    uri, sha = place(root, "model.skops", _edit_first_array(forest, _is_tree_nodes, _set_child_out_of_range))
    store = ArtifactStore(f"file://{root}")
    assert verify_artifact(store, uri, sha).ok
    with pytest.raises(StartupFailure) as failure:
        load_served_model(store, ModelSource(artifact_uri=uri, sha256=sha))
    assert failure.value.reason == "InvalidModelStructure"


def test_a_zip_bomb_is_refused_by_both_within_bounded_memory(root: Path):
    """Issue 12, row 4: 23 KiB whose schema.json inflates to 24 MB of JSON lists (690 MiB when parsed)."""
    from tests.unit.test_artifact_bounds import empty_lists_schema, peak_mib, zip_of

    uri, sha = place(root, "model.skops", zip_of({"schema.json": empty_lists_schema(8_000_000)}))
    (verification, failure), peak = peak_mib(lambda: refusals(ArtifactStore(f"file://{root}"), uri, sha))
    assert (verification.reason, failure.reason) == ("UnsafeArchive", "UnsafeArchive")
    assert peak < 64, f"{peak:.0f} MiB"
