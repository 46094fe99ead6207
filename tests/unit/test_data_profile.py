"""The profile: statistics checked against numpy and pandas on known data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris

from ballast.api.dataset import DatasetSpec
from ballast.data.assess import assess
from ballast.data.profile import profile_table
from ballast.data.tables import inline_frame


def profile_of(raw: pd.DataFrame, columns: list[dict], **schema) -> dict:
    spec = DatasetSpec.model_validate({"source": {"url": "http://x"}, "schema": {"columns": columns, **schema}})
    return profile_table(assess(raw, spec).table, spec.schema_)


def test_numeric_statistics_match_numpy_on_iris():
    frame = load_iris(as_frame=True).frame
    columns = [{"name": name, "type": "float"} for name in frame.columns[:4]] + [{"name": "target", "type": "integer"}]
    profile = profile_of(frame, columns, target="target")
    assert profile["rows"] == 150 and profile["target"] == "target"
    assert profile["features"] == list(frame.columns[:4])
    for name in frame.columns[:4]:
        values = frame[name].to_numpy()
        stats = profile["columns"][name]
        assert stats["role"] == "feature" and stats["count"] == 150 and stats["nulls"] == 0
        assert stats["min"] == values.min() and stats["max"] == values.max()
        assert stats["mean"] == pytest.approx(values.mean(), rel=1e-12)
        assert stats["std"] == pytest.approx(frame[name].std(), rel=1e-12)  # pandas: ddof=1
        expected_edges = np.unique(np.quantile(values, np.linspace(0, 1, 11)))
        assert stats["binEdges"] == pytest.approx(expected_edges.tolist(), rel=1e-12)
        assert stats["binEdges"][0] == values.min() and stats["binEdges"][-1] == values.max()
    assert profile["columns"]["target"]["role"] == "target"
    assert isinstance(profile["columns"]["target"]["min"], int)


def test_nulls_are_counted_and_left_out_of_the_statistics():
    raw = inline_frame([{"x": 1.0}, {"x": None}, {"x": 3.0}, {"x": None}])
    stats = profile_of(raw, [{"name": "x", "type": "float", "nullable": True}])["columns"]["x"]
    assert (stats["count"], stats["nulls"], stats["mean"], stats["min"], stats["max"]) == (2, 2, 2.0, 1.0, 3.0)
    assert stats["std"] == pytest.approx(np.std([1.0, 3.0], ddof=1))


def test_edges_are_deduplicated_for_skewed_data():
    raw = pd.DataFrame({"x": [0] * 95 + [1, 2, 3, 4, 5]})
    stats = profile_of(raw, [{"name": "x", "type": "integer"}])["columns"]["x"]
    assert stats["binEdges"] == sorted(set(stats["binEdges"]))
    assert stats["binEdges"][0] == 0 and stats["binEdges"][-1] == 5
    assert len(stats["binEdges"]) < 11


def test_degenerate_columns_give_nulls_not_nan():
    raw = inline_frame([{"x": 7.0, "y": None, "s": None}])
    profile = profile_of(
        raw,
        [
            {"name": "x", "type": "float"},
            {"name": "y", "type": "float", "nullable": True},
            {"name": "s", "type": "string", "nullable": True},
        ],
    )
    assert profile["columns"]["x"]["std"] is None and profile["columns"]["x"]["binEdges"] == [7.0]
    assert profile["columns"]["y"] == {
        "type": "float",
        "role": "feature",
        "count": 0,
        "nulls": 1,
        "min": None,
        "max": None,
        "mean": None,
        "std": None,
        "binEdges": [],
    }
    assert profile["columns"]["s"]["frequencies"] == [] and profile["columns"]["s"]["distinct"] == 0
    json.dumps(profile, allow_nan=False)  # raises on NaN or Infinity


def test_frequencies_are_bounded_with_the_rest_counted_as_other():
    values = [f"v{i:03d}" for i in range(80) for _ in range(i + 1)]  # v079 is the most frequent
    raw = pd.DataFrame({"c": pd.Series(values, dtype="str")})
    stats = profile_of(raw, [{"name": "c", "type": "category"}])["columns"]["c"]
    assert stats["distinct"] == 80 and len(stats["frequencies"]) == 50
    assert stats["frequencies"][0] == {"value": "v079", "count": 80}
    assert stats["frequencies"][-1] == {"value": "v030", "count": 31}
    assert stats["otherCount"] == sum(range(1, 31))
    assert sum(f["count"] for f in stats["frequencies"]) + stats["otherCount"] == len(values)


def test_ties_are_ordered_by_value_and_booleans_count_as_words():
    raw = inline_frame([{"b": True, "c": "z"}, {"b": False, "c": "a"}, {"b": True, "c": "m"}])
    profile = profile_of(raw, [{"name": "b", "type": "boolean"}, {"name": "c", "type": "string"}])
    assert profile["columns"]["b"]["frequencies"] == [{"value": "true", "count": 2}, {"value": "false", "count": 1}]
    assert [f["value"] for f in profile["columns"]["c"]["frequencies"]] == ["a", "m", "z"]


def test_columns_outside_the_features_are_marked_other():
    raw = inline_frame([{"id": "a", "x": 1.0, "y": 0}])
    profile = profile_of(
        raw,
        [{"name": "id", "type": "string"}, {"name": "x", "type": "float"}, {"name": "y", "type": "integer"}],
        target="y",
        features=["x"],
    )
    assert {name: c["role"] for name, c in profile["columns"].items()} == {"id": "other", "x": "feature", "y": "target"}
