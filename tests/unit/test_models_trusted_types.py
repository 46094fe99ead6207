"""Ballast's trusted-type lists are complete and minimal for its allow-listed estimators.

The lists in ballast.models.trusted_types are literal constants. These tests fit every
allow-listed estimator inside Ballast's standard pipeline, on binary, multiclass and
regression data with numeric, string, boolean and missing values, and with the params that
change what a fitted model holds (loss functions, neighbour search trees and metrics, early
stopping). Every type those archives name must be listed, and every listed type must be
needed by at least one of them. When a test fails, run
`python -m tests.unit.test_models_trusted_types` to print the lists to paste.
"""

from __future__ import annotations

import io
import json
import warnings
import zipfile
from collections.abc import Iterator
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import StrOptions

from ballast.api.catalog import ESTIMATORS
from ballast.api.dataset import DatasetSchema
from ballast.api.feature_steps import FeatureStep
from ballast.models.artifact_types import archive_types
from ballast.models.skops_format import serialize_model
from ballast.models.trusted_types import ARTIFACT_TYPES, SKOPS_TRUSTED_TYPES
from ballast.training.errors import InvalidEstimator
from ballast.training.estimators import build_estimator, estimator_class
from ballast.training.features import feature_columns, feature_frame
from ballast.training.preprocessing import build_pipeline
from ballast.training.target import labelled_rows

FAST = {"n_estimators": 3, "max_iter": 5}
KNN_METRICS = ("minkowski", "euclidean", "manhattan", "chebyshev")
KNN_ALGORITHMS = ("auto", "brute", "kd_tree", "ball_tree")


def _with_mixed_columns(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Add every schema column type Ballast encodes, with missing values in each."""
    n = len(frame)
    frame = frame.copy()
    frame.iloc[rng.choice(n, 5, replace=False), 0] = np.nan
    colour = rng.choice(["red", "green", "blue"], n).astype(object)
    colour[rng.choice(n, 5, replace=False)] = None
    flag = pd.Series(rng.random(n) > 0.5, dtype=object)
    flag.iloc[rng.choice(n, 5, replace=False)] = None
    count = pd.Series(rng.integers(0, 4, n), dtype="Int64")
    count.iloc[rng.choice(n, 5, replace=False)] = pd.NA
    return frame.assign(colour=colour, flag=flag.to_numpy(), count=count)


def _schema(frame: pd.DataFrame, target: str, target_type: str) -> DatasetSchema:
    types = {"colour": "string", "flag": "boolean", "count": "integer"}
    columns = [{"name": c, "type": types.get(c, "float"), "nullable": True} for c in frame.columns if c != target]
    return DatasetSchema.model_validate(
        {"columns": columns + [{"name": target, "type": target_type}], "target": target}
    )


@cache
def probe_datasets() -> dict[str, tuple[pd.DataFrame, DatasetSchema]]:
    rng = np.random.default_rng(0)
    iris = load_iris(as_frame=True)
    cancer = load_breast_cancer(as_frame=True)
    diabetes = load_diabetes(as_frame=True)
    iris_x = _with_mixed_columns(iris.data, rng)
    cancer_x = _with_mixed_columns(cancer.data.iloc[:, :6], rng)
    diabetes_x = _with_mixed_columns(diabetes.data, rng)
    species = iris.target_names[iris.target].astype(object)
    return {
        "multiclass-integer": (iris_x.assign(y=iris.target), _schema(iris_x.assign(y=0), "y", "integer")),
        "multiclass-string": (iris_x.assign(y=species), _schema(iris_x.assign(y=0), "y", "category")),
        "binary-integer": (cancer_x.assign(y=cancer.target), _schema(cancer_x.assign(y=0), "y", "integer")),
        "binary-boolean": (cancer_x.assign(y=cancer.target == 1), _schema(cancer_x.assign(y=0), "y", "boolean")),
        "regression": (diabetes_x.assign(y=diabetes.target), _schema(diabetes_x.assign(y=0), "y", "float")),
    }


def _str_options(cls: type, param: str) -> list[str]:
    constraints = getattr(cls, "_parameter_constraints", {}).get(param, [])
    return sorted(
        o
        for c in constraints
        if isinstance(c, StrOptions)
        for o in c.options
        if o not in getattr(c, "deprecated", set())
    )


def param_variants(class_path: str) -> Iterator[dict[str, Any]]:
    """Params that change the types a fitted model holds; defaults first."""
    cls = estimator_class(class_path)
    known = cls().get_params()
    fast = {k: v for k, v in FAST.items() if k in known}
    yield fast
    for loss in _str_options(cls, "loss"):
        yield {**fast, "loss": loss, **({"quantile": 0.5} if loss == "quantile" and "quantile" in known else {})}
    if "early_stopping" in known:
        yield {**fast, "early_stopping": True, "validation_fraction": 0.2}
    if "n_iter_no_change" in known and "early_stopping" not in known:
        yield {**fast, "n_iter_no_change": 2}
    if "boosting_type" in known:  # LightGBM: dart and random forest keep other state than gbdt
        yield {**fast, "boosting_type": "dart"}
        yield {**fast, "boosting_type": "rf", "subsample": 0.8, "subsample_freq": 1}
    if "init" in known:
        yield {**fast, "init": "zero"}
    if "algorithm" in known and "metric" in known:
        for algorithm in KNN_ALGORITHMS:
            for metric in KNN_METRICS:
                yield {"algorithm": algorithm, "metric": metric}
            yield {"algorithm": algorithm, "metric": "minkowski", "p": 3}


def fitted_archives() -> Iterator[tuple[str, dict[str, Any], str, bytes]]:
    for dataset_name, (frame, schema) in probe_datasets().items():
        task = "regression" if dataset_name == "regression" else "classification"
        columns = feature_columns(schema)
        rows = labelled_rows(frame, schema, task)
        features = feature_frame(rows.frame, columns)
        for class_path in sorted(p for p, t in ESTIMATORS.items() if t == task):
            for index, params in enumerate(param_variants(class_path)):
                try:
                    estimator = build_estimator(class_path, params, seed=0)
                except InvalidEstimator:
                    # refused before fitting (a classifier's loss without probabilities): no model
                    if index == 0:
                        raise
                    continue
                try:
                    pipeline = build_pipeline(class_path, estimator, columns).fit(features, rows.target)
                except ValueError:
                    # A variant that cannot fit this data (exponential loss on three classes)
                    # produces no model, so it needs no type; the defaults must always fit.
                    if index == 0:
                        raise
                    continue
                yield class_path, params, dataset_name, serialize_model(pipeline).data
    yield feature_steps_archive()


EVERY_FEATURE_STEP = [
    {"standardScale": {"columns": ["mean radius"]}},
    {"minMaxScale": {"columns": ["mean texture"]}},
    {"log": {"columns": ["mean area"]}},
    {"clip": {"columns": ["mean perimeter"], "min": 50.0, "max": 150.0}},
    {"bucket": {"columns": ["mean smoothness"], "edges": [0.08, 0.1, 0.12]}},
    {"dateParts": {"column": "when", "parts": ["year", "month", "day", "dayOfWeek", "hour"]}},
    {"ratio": {"name": "area_per_perimeter", "numerator": "mean area", "denominator": "mean perimeter"}},
]


def feature_steps_archive() -> tuple[str, dict[str, Any], str, bytes]:
    """Every declared feature step kind in one pipeline: the types they add must be listed too."""
    frame, schema = probe_datasets()["binary-integer"]
    when = pd.date_range("2024-01-01", periods=len(frame), freq="7h").strftime("%Y-%m-%dT%H:%M:%S")
    frame = frame.assign(when=when.to_numpy(dtype=object))
    wire = schema.to_wire()
    schema = DatasetSchema.model_validate({**wire, "columns": [*wire["columns"], {"name": "when", "type": "string"}]})
    steps = [FeatureStep.model_validate(step) for step in EVERY_FEATURE_STEP]
    columns = feature_columns(schema)
    rows = labelled_rows(frame, schema, "classification")
    class_path = "sklearn.linear_model.LogisticRegression"
    estimator = build_estimator(class_path, {}, seed=0)
    pipeline = build_pipeline(class_path, estimator, columns, steps).fit(
        feature_frame(rows.frame, columns), rows.target
    )
    return class_path, {"featureSteps": EVERY_FEATURE_STEP}, "binary-integer+when", serialize_model(pipeline).data


def referenced_types(data: bytes) -> frozenset[str]:
    """Every `module.Class` of a node (a dict with `__loader__`) of the parsed schema.json: the
    reference the operator's streaming scan (artifact_types.archive_types) must agree with."""
    found: set[str] = set()
    pending: list[Any] = [json.loads(zipfile.ZipFile(io.BytesIO(data)).read("schema.json"))]
    while pending:
        node = pending.pop()
        if isinstance(node, list):
            pending.extend(node)
        elif isinstance(node, dict):
            if "__loader__" in node:
                found.add(f"{node['__module__']}.{node['__class__']}")
            pending.extend(node.values())
    return frozenset(found)


@cache
def probe_archives() -> tuple[tuple[str, dict[str, Any], str, bytes], ...]:
    with warnings.catch_warnings():
        # Probe fits are tiny on purpose; convergence does not change what a model holds.
        warnings.simplefilter("ignore", ConvergenceWarning)
        return tuple(fitted_archives())


def test_the_streaming_scan_finds_exactly_the_types_of_every_probe_archive() -> None:
    for class_path, params, dataset_name, data in probe_archives():
        assert archive_types(io.BytesIO(data)) == referenced_types(data), f"{class_path}({params}) on {dataset_name}"


@cache
def needed_types() -> tuple[frozenset[str], frozenset[str], dict[str, str], frozenset[str]]:
    """(types skops must be told to trust, every type named, first case needing each type,
    the estimators probed)."""
    skops_needed: set[str] = set()
    named: set[str] = set()
    first_needed_by: dict[str, str] = {}
    probed: set[str] = set()
    for class_path, params, dataset_name, data in probe_archives():
        probed.add(class_path)
        case = f"{class_path}({params}) on {dataset_name}"
        untrusted = set(skops.io.get_untrusted_types(data=data))
        types = referenced_types(data)
        for type_name in types | untrusted:
            first_needed_by.setdefault(type_name, case)
        skops_needed |= untrusted
        named |= types
    return frozenset(skops_needed), frozenset(named), first_needed_by, frozenset(probed)


@pytest.mark.parametrize(
    "listed, which", [(SKOPS_TRUSTED_TYPES, 0), (ARTIFACT_TYPES, 1)], ids=["SKOPS_TRUSTED_TYPES", "ARTIFACT_TYPES"]
)
def test_trusted_list_covers_every_allow_listed_estimator(listed: frozenset[str], which: int) -> None:
    needed, first_needed_by = needed_types()[which], needed_types()[2]
    missing = sorted(needed - listed)
    assert not missing, "add to the list: " + "; ".join(f"{t} (needed by {first_needed_by[t]})" for t in missing)


@pytest.mark.parametrize(
    "listed, which", [(SKOPS_TRUSTED_TYPES, 0), (ARTIFACT_TYPES, 1)], ids=["SKOPS_TRUSTED_TYPES", "ARTIFACT_TYPES"]
)
def test_trusted_list_holds_nothing_unneeded(listed: frozenset[str], which: int) -> None:
    extra = sorted(listed - needed_types()[which])
    assert not extra, f"no allow-listed estimator needs these; remove them: {extra}"


def test_skops_trust_is_a_subset_of_the_types_ballast_accepts() -> None:
    assert SKOPS_TRUSTED_TYPES <= ARTIFACT_TYPES


def test_every_allow_listed_estimator_is_probed() -> None:
    assert needed_types()[3] == set(ESTIMATORS)


def _literal(name: str, types: frozenset[str]) -> str:
    body = "".join(f'    "{t}",\n' for t in sorted(types))
    return f"{name}: frozenset[str] = frozenset({{\n{body}}})"


if __name__ == "__main__":
    skops_needed, named, *_ = needed_types()
    print(_literal("SKOPS_TRUSTED_TYPES", skops_needed))
    print()
    print(_literal("ARTIFACT_TYPES", named))
