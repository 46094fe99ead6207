"""A tampered tree model is refused right after loading, before it predicts or trains.

Each model is trained, saved the way Ballast saves it (serialize_model), then one array in
the archive is edited and the archive saved again with the new sha256, as someone who may
register a ModelVersion with any artifact URI and sha256 could. load_model, which the model
server, the champion comparison and the trainer's round trip all use, must refuse it with
InvalidModelStructure; the untampered model must load. Without the check, the first case
(one child index of a forest) made the server read outside the tree's arrays.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.ensemble import (
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeRegressor

from ballast.models.digest import sha256_hex
from ballast.models.errors import InvalidModelStructure, ModelArtifactError
from ballast.models.skops_format import load_model, serialize_model
from ballast.models.tree_structure import check_model_structure

X, Y = load_iris(return_X_y=True)
N_FEATURES = X.shape[1]


def _models() -> dict[str, object]:
    return {
        "random forest": RandomForestClassifier(n_estimators=4, random_state=0).fit(X, Y),
        "decision tree regressor": DecisionTreeRegressor(max_depth=4, random_state=0).fit(X, X[:, 0]),
        "gradient boosting": GradientBoostingClassifier(n_estimators=3, max_depth=2, random_state=0).fit(X, Y),
        "hist gradient boosting": HistGradientBoostingClassifier(max_iter=3, random_state=0).fit(X, Y),
        "pipeline of extra trees": make_pipeline(
            StandardScaler(), ExtraTreesRegressor(n_estimators=3, random_state=0)
        ).fit(X, X[:, 0]),
    }


MODELS = _models()
SAVED = {name: serialize_model(model).data for name, model in MODELS.items()}


def _edit_first_array(
    data: bytes, wanted: Callable[[np.ndarray], bool], edit: Callable[[np.ndarray], None], occurrence: int = 0
) -> bytes:
    """The archive with one array (the occurrence-th one `wanted` picks) edited in place."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out, seen, edited = io.BytesIO(), 0, False
    with zipfile.ZipFile(out, "w") as target:
        for name in source.namelist():
            content = source.read(name)
            if name.endswith(".npy") and not edited:
                array = np.load(io.BytesIO(content), allow_pickle=False)
                if wanted(array):
                    if seen == occurrence:
                        array = array.copy()
                        edit(array)
                        buffer = io.BytesIO()
                        np.save(buffer, array, allow_pickle=False)
                        content, edited = buffer.getvalue(), True
                    seen += 1
            target.writestr(name, content)
    assert edited, "no array to edit"
    return out.getvalue()


def _is_tree_nodes(array: np.ndarray) -> bool:
    return array.dtype.names is not None and "left_child" in array.dtype.names


def _is_predictor_nodes(array: np.ndarray) -> bool:
    return array.dtype.names is not None and "is_leaf" in array.dtype.names


def _first_internal(nodes: np.ndarray, leaf: np.ndarray) -> int:
    return int(np.flatnonzero(~leaf)[0])


def _set_child_out_of_range(nodes: np.ndarray) -> None:
    node = _first_internal(nodes, nodes["left_child"] == -1)
    nodes["left_child"][node] = 10**6


def _set_child_to_parent(nodes: np.ndarray) -> None:  # a cycle: the walk never reaches a leaf
    inner = np.flatnonzero(nodes["left_child"] != -1)
    nodes["right_child"][inner[-1]] = inner[0]


def _set_feature_beyond_input(nodes: np.ndarray) -> None:
    nodes["feature"][_first_internal(nodes, nodes["left_child"] == -1)] = N_FEATURES + 3


def _give_a_leaf_one_child(nodes: np.ndarray) -> None:
    leaf = int(np.flatnonzero(nodes["left_child"] == -1)[-1])
    nodes["right_child"][leaf] = leaf - 1 if leaf > 1 else 1


def _share_a_child(nodes: np.ndarray) -> None:  # both children the same node: not a tree
    node = _first_internal(nodes, nodes["left_child"] == -1)
    nodes["right_child"][node] = nodes["left_child"][node]


def _predictor_child_out_of_range(nodes: np.ndarray) -> None:
    nodes["left"][_first_internal(nodes, nodes["is_leaf"] != 0)] = 60_000


def _predictor_feature_beyond_input(nodes: np.ndarray) -> None:
    nodes["feature_idx"][_first_internal(nodes, nodes["is_leaf"] != 0)] = N_FEATURES


def _predictor_backwards_child(nodes: np.ndarray) -> None:
    inner = np.flatnonzero(nodes["is_leaf"] == 0)
    nodes["right"][inner[-1]] = inner[0]


def _predictor_categorical_split(nodes: np.ndarray) -> None:
    nodes["is_categorical"][_first_internal(nodes, nodes["is_leaf"] != 0)] = 1


def _predictor_bin_beyond_bins(nodes: np.ndarray) -> None:
    nodes["bin_threshold"][_first_internal(nodes, nodes["is_leaf"] != 0)] = 255


TREE_EDITS = {
    "child out of range": _set_child_out_of_range,
    "child pointing back (cycle)": _set_child_to_parent,
    "feature beyond the input": _set_feature_beyond_input,
    "leaf with one child": _give_a_leaf_one_child,
    "child shared by two edges": _share_a_child,
}
PREDICTOR_EDITS = {
    "child out of range": _predictor_child_out_of_range,
    "feature beyond the input": _predictor_feature_beyond_input,
    "child pointing back (cycle)": _predictor_backwards_child,
    "categorical split on a numeric feature": _predictor_categorical_split,
    "bin beyond the feature's bins": _predictor_bin_beyond_bins,
}
TREE_MODELS = ("random forest", "decision tree regressor", "gradient boosting", "pipeline of extra trees")


@pytest.mark.parametrize("name", list(MODELS))
def test_an_untampered_model_loads_and_its_trees_are_checked(name: str) -> None:
    data = SAVED[name]
    model = load_model(data, sha256_hex(data))
    assert check_model_structure(model) >= 1
    np.testing.assert_array_equal(model.predict(X), MODELS[name].predict(X))


@pytest.mark.parametrize("edit", list(TREE_EDITS))
@pytest.mark.parametrize("name", TREE_MODELS)
def test_a_tampered_decision_tree_is_refused_at_load(name: str, edit: str) -> None:
    # the last tree of an ensemble, so the check cannot stop at the first one
    count = sum(
        1
        for n in zipfile.ZipFile(io.BytesIO(SAVED[name])).namelist()
        if n.endswith(".npy")
        and _is_tree_nodes(np.load(io.BytesIO(zipfile.ZipFile(io.BytesIO(SAVED[name])).read(n)), allow_pickle=False))
    )
    tampered = _edit_first_array(SAVED[name], _is_tree_nodes, TREE_EDITS[edit], occurrence=count - 1)
    with pytest.raises(InvalidModelStructure) as refused:
        load_model(tampered, sha256_hex(tampered))
    assert refused.value.reason == "InvalidModelStructure"
    assert "altered after training" in str(refused.value)


@pytest.mark.parametrize("edit", list(PREDICTOR_EDITS))
def test_a_tampered_hist_gradient_boosting_tree_is_refused_at_load(edit: str) -> None:
    tampered = _edit_first_array(
        SAVED["hist gradient boosting"], _is_predictor_nodes, PREDICTOR_EDITS[edit], occurrence=4
    )
    with pytest.raises(InvalidModelStructure):
        load_model(tampered, sha256_hex(tampered))


def test_values_of_the_wrong_shape_are_refused_at_load() -> None:
    def wrong_shape(array: np.ndarray) -> bool:
        return array.dtype.names is None and array.ndim == 3

    source = zipfile.ZipFile(io.BytesIO(SAVED["random forest"]))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        done = False
        for name in source.namelist():
            content = source.read(name)
            if name.endswith(".npy") and not done and wrong_shape(np.load(io.BytesIO(content), allow_pickle=False)):
                buffer = io.BytesIO()
                np.save(buffer, np.load(io.BytesIO(content))[:-1], allow_pickle=False)  # one node short
                content, done = buffer.getvalue(), True
            target.writestr(name, content)
    assert done
    tampered = out.getvalue()
    # scikit-learn's own __setstate__ catches this one; whichever check does, nothing is returned
    with pytest.raises(ModelArtifactError):
        load_model(tampered, sha256_hex(tampered))


def test_a_gradient_boosting_with_fewer_trees_per_iteration_than_classes_is_refused() -> None:
    """Its Cython reads estimators_[i, k] for every class k without bounds checks."""
    model = load_model(SAVED["gradient boosting"], sha256_hex(SAVED["gradient boosting"]))
    model.estimators_ = model.estimators_[:, :1]
    with pytest.raises(InvalidModelStructure, match="estimators of shape"):
        check_model_structure(model)


def test_a_forest_member_reading_more_features_than_the_forest_is_refused() -> None:
    model = load_model(SAVED["random forest"], sha256_hex(SAVED["random forest"]))
    wider = DecisionTreeRegressor(max_depth=2).fit(np.hstack([X, X]), X[:, 0])
    model.estimators_[1] = wider
    with pytest.raises(InvalidModelStructure, match="features"):
        check_model_structure(model)


def test_a_tampered_champion_fails_the_gate_with_the_reason_and_is_never_evaluated(tmp_path) -> None:
    from ballast.runtime.train import ChampionInput, load_champion
    from ballast.store import ArtifactStore

    store = ArtifactStore(f"file://{tmp_path}")
    tampered = _edit_first_array(SAVED["random forest"], _is_tree_nodes, _set_child_out_of_range)
    uri = store.write_bytes_once("models/iris/champion/model.skops", tampered)
    model, problem = load_champion(store, ChampionInput(uri=uri, sha256=sha256_hex(tampered)))
    assert model is None
    assert problem is not None and problem.startswith("InvalidModelStructure: ")
