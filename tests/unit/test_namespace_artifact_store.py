"""A ModelVersion is verified against its own namespace's part of the store only: naming
another namespace's artifact (sound and trusted as it may be) is ArtifactOutsideStore."""

from __future__ import annotations

from pathlib import Path

import pytest
from sklearn.datasets import load_iris
from sklearn.tree import DecisionTreeClassifier

from ballast.handlers import context
from ballast.models.skops_format import serialize_model
from ballast.registry import verify_artifact
from ballast.settings import Settings


@pytest.fixture
def store_root(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setattr(context, "SETTINGS", Settings(store_uri=f"file://{tmp_path}"))
    context.namespace_artifact_store.cache_clear()
    yield tmp_path
    context.namespace_artifact_store.cache_clear()


def _plant(root: Path, namespace: str) -> tuple[str, str]:
    x, y = load_iris(return_X_y=True)
    model = serialize_model(DecisionTreeClassifier(max_depth=2, random_state=0).fit(x, y))
    folder = root / namespace / "models" / "iris" / model.sha256
    folder.mkdir(parents=True)
    (folder / "model.skops").write_bytes(model.data)
    return f"file://{folder}/model.skops", model.sha256


def test_a_namespace_verifies_its_own_artifact_and_not_another_namespaces(store_root: Path):
    uri, sha = _plant(store_root, "team-b")
    assert context.namespace_artifact_store("team-b").uri == f"file://{store_root}/team-b"
    assert verify_artifact(context.namespace_artifact_store("team-b"), uri, sha).ok
    stolen = verify_artifact(context.namespace_artifact_store("team-a"), uri, sha)
    assert (stolen.ok, stolen.reason) == (False, "ArtifactOutsideStore")
    assert "team-a" in stolen.message  # names the part of the store it had to be in


def test_a_key_outside_every_namespace_is_refused_too(store_root: Path):
    uri, sha = _plant(store_root, "team-a")
    # the same bytes copied above the namespaces' directories: no namespace may name them
    (store_root / "models").mkdir()
    (store_root / "models" / "model.skops").write_bytes(Path(uri.removeprefix("file://")).read_bytes())
    outside = verify_artifact(
        context.namespace_artifact_store("team-a"), f"file://{store_root}/models/model.skops", sha
    )
    assert outside.reason == "ArtifactOutsideStore"
    dot_dot = verify_artifact(
        context.namespace_artifact_store("team-a"), f"file://{store_root}/team-a/../team-b/models/model.skops", sha
    )
    assert dot_dot.reason == "ArtifactOutsideStore"
