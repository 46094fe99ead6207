"""Refuse a loaded tree model whose node arrays scikit-learn could not have built.

scikit-learn's Cython walks a tree by following the child indices and reading the input at the
node's feature index, without bounds checks: one edited index in a stored forest made the model
server read outside its arrays and die with a segfault on a request. skops rebuilds those arrays
as they are stored (they are trusted types), so right after loading, before any prediction or
training, every tree reachable from the model is checked against what scikit-learn's builders
guarantee: each node but the root is the child of exactly one node with a smaller index (so
no cycle, no shared or orphan node, every index in range), leaves have no children and internal
nodes two, features index the input the estimator validated, values have the tree's shape.

Decision trees are checked wherever they appear (alone, in forests, in gradient boosting, in
pipelines and column transformers); histogram gradient boosting's predictors likewise.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.ensemble._forest import BaseForest
from sklearn.ensemble._gb import BaseGradientBoosting
from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE
from sklearn.ensemble._hist_gradient_boosting.gradient_boosting import BaseHistGradientBoosting
from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
from sklearn.tree._classes import BaseDecisionTree
from sklearn.tree._tree import TREE_LEAF, Tree

from ballast.models.errors import InvalidModelStructure


def _refuse(where: str, problem: str) -> InvalidModelStructure:
    return InvalidModelStructure(
        f"{where}: {problem}; the artifact was altered after training "
        "(scikit-learn never builds such a tree), so it is neither served nor trained on"
    )


def check_children(where: str, left: np.ndarray, right: np.ndarray, is_leaf: np.ndarray) -> None:
    """Internal nodes point to two children of larger index in range, and every node but the root
    is the child of exactly one node: together, a tree rooted at 0 with no cycle."""
    count = len(left)
    if count == 0:
        raise _refuse(where, "a tree without nodes")
    index = np.arange(count)
    inner = ~is_leaf
    for side, children in (("left", left), ("right", right)):
        bad = inner & ((children <= index) | (children >= count))
        if bad.any():
            node = int(np.flatnonzero(bad)[0])
            raise _refuse(where, f"node {node} has {side} child {int(children[node])}, not a later node among {count}")
    children = np.concatenate([left[inner], right[inner]])
    if not np.array_equal(np.sort(children), index[1:]):
        raise _refuse(where, "some node is the child of two nodes, or of none")


def check_decision_tree(where: str, tree: Tree, n_features: int, n_outputs: int | None = None) -> None:
    left, right = tree.children_left, tree.children_right
    leaf = left == TREE_LEAF
    if not np.array_equal(leaf, right == TREE_LEAF):
        raise _refuse(where, f"node {int(np.flatnonzero(leaf != (right == TREE_LEAF))[0])} has one child")
    check_children(where, left, right, leaf)
    if tree.n_features != n_features:
        raise _refuse(where, f"the tree reads {tree.n_features} features, its estimator {n_features}")
    feature = tree.feature[~leaf]
    if ((feature < 0) | (feature >= n_features)).any():
        raise _refuse(
            where,
            f"a split on feature {int(feature[(feature < 0) | (feature >= n_features)][0])} "
            f"of an input with {n_features}",
        )
    if n_outputs is not None and tree.n_outputs != n_outputs:
        raise _refuse(where, f"the tree has {tree.n_outputs} outputs, its estimator {n_outputs}")
    expected = (tree.node_count, tree.n_outputs, tree.max_n_classes)
    if tree.value.shape != expected:
        raise _refuse(where, f"values of shape {tree.value.shape}, not {expected}")


def check_tree_predictor(
    where: str,
    predictor: TreePredictor,
    n_features: int | None,
    bins_per_feature: np.ndarray | None,
    categorical: np.ndarray | None,
) -> None:
    nodes = predictor.nodes
    if not isinstance(nodes, np.ndarray) or nodes.dtype != PREDICTOR_RECORD_DTYPE or nodes.ndim != 1:
        raise _refuse(where, "predictor nodes that are not scikit-learn's node records")
    leaf = nodes["is_leaf"] != 0
    check_children(where, nodes["left"].astype(np.int64), nodes["right"].astype(np.int64), leaf)
    inner = nodes[~leaf]
    feature = inner["feature_idx"].astype(np.int64)
    width = n_features if n_features is not None else np.iinfo(np.int64).max
    if ((feature < 0) | (feature >= width)).any():
        raise _refuse(where, f"a split on a feature beyond the input's {n_features}")
    split_on_category = inner["is_categorical"] != 0
    bitsets = min(len(predictor.raw_left_cat_bitsets), len(predictor.binned_left_cat_bitsets))
    if (split_on_category & (inner["bitset_idx"].astype(np.int64) >= bitsets)).any():
        raise _refuse(where, f"a categorical split on a bitset beyond the {bitsets} stored")
    if split_on_category.any() and (categorical is None or not categorical[feature[split_on_category]].all()):
        raise _refuse(where, "a categorical split on a feature that is not categorical")
    if bins_per_feature is not None:
        numeric = ~split_on_category
        # the grower's threshold is at most the feature's last non-missing bin
        if (inner["bin_threshold"][numeric] > bins_per_feature[feature[numeric]]).any():
            raise _refuse(where, "a split on a bin beyond its feature's bins")


def _check_hist_gradient_boosting(where: str, model: BaseHistGradientBoosting) -> None:
    n_features = int(model.n_features_in_)
    mapper = model._bin_mapper
    bins = np.asarray(mapper.n_bins_non_missing_)
    categorical = None if mapper.is_categorical_ is None else np.asarray(mapper.is_categorical_, dtype=bool)
    if len(bins) != n_features or (categorical is not None and len(categorical) != n_features):
        raise _refuse(where, f"a binner for {len(bins)} features, the model reads {n_features}")
    for iteration, predictors in enumerate(model._predictors):
        if len(predictors) != model.n_trees_per_iteration_:
            raise _refuse(
                where, f"iteration {iteration} has {len(predictors)} trees, not {model.n_trees_per_iteration_}"
            )
        for k, predictor in enumerate(predictors):
            if not isinstance(predictor, TreePredictor):
                raise _refuse(where, f"iteration {iteration} holds a {type(predictor).__name__}, not a tree")
            check_tree_predictor(f"{where} tree {iteration}.{k}", predictor, n_features, bins, categorical)


def _check_ensemble(where: str, model: BaseEstimator) -> None:
    """Forests and gradient boosting hand their trees an input validated for the ensemble only."""
    n_features = int(model.n_features_in_)
    members = np.asarray(model.estimators_, dtype=object)
    if isinstance(model, BaseGradientBoosting) and (
        members.ndim != 2 or members.shape[1] != model.n_trees_per_iteration_
    ):
        # its Cython indexes estimators_[i, k] for k below n_trees_per_iteration_ without checks
        raise _refuse(where, f"estimators of shape {members.shape}, not (n, {model.n_trees_per_iteration_})")
    for member in members.ravel():
        if not isinstance(member, BaseDecisionTree):
            raise _refuse(where, f"an ensemble member that is a {type(member).__name__}, not a tree")
        if int(member.n_features_in_) != n_features:
            raise _refuse(where, f"a member reads {member.n_features_in_} features, the ensemble {n_features}")


def _children(value: Any) -> Iterator[Any]:
    if isinstance(value, BaseEstimator):
        yield from vars(value).values()
    elif isinstance(value, (list, tuple)):
        yield from value
    elif isinstance(value, dict):
        yield from value.values()
    elif isinstance(value, np.ndarray) and value.dtype == object:
        yield from value.ravel()


def check_model_structure(model: Any) -> int:
    """Checks every tree reachable from model; returns how many. InvalidModelStructure otherwise."""
    checked, seen, pending = 0, set(), [(type(model).__name__, model)]
    while pending:
        where, value = pending.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, BaseDecisionTree) and hasattr(value, "tree_"):
            check_decision_tree(where, value.tree_, int(value.n_features_in_), int(value.n_outputs_))
            seen.add(id(value.tree_))
            checked += 1
        elif isinstance(value, Tree):
            # a tree outside an estimator is used by nothing Ballast trusts; still never a bad one
            check_decision_tree(where, value, value.n_features)
            checked += 1
        elif isinstance(value, BaseHistGradientBoosting) and hasattr(value, "_predictors"):
            _check_hist_gradient_boosting(where, value)
            seen.update(id(p) for predictors in value._predictors for p in predictors)
            checked += sum(len(predictors) for predictors in value._predictors)
        elif isinstance(value, TreePredictor):
            check_tree_predictor(where, value, None, None, None)
            checked += 1
        if isinstance(value, (BaseForest, BaseGradientBoosting)) and hasattr(value, "estimators_"):
            _check_ensemble(where, value)
        pending.extend((f"{where} > {type(child).__name__}", child) for child in _children(value))
    return checked
