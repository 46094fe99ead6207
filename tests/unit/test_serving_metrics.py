"""/metrics: feature and prediction histograms on the profile's edges, feedback, and the reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from prometheus_client.utils import floatToGoString

from ballast.build.serving import REFERENCE_PATH
from tests.unit.test_serving_harness import (
    TrainedModel,
    diabetes_frame,
    iris_frame,
    metric_value,
    mixed_frame,
    named_inputs,
    running_server,
    trained_model,
)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("metrics")


@pytest.fixture(scope="module")
def iris(workdir: Path) -> TrainedModel:
    return trained_model(workdir, "iris", iris_frame(), "sklearn.linear_model.LogisticRegression")


@pytest.fixture(scope="module")
def mixed(workdir: Path) -> TrainedModel:
    return trained_model(workdir, "mixed", mixed_frame(), "sklearn.tree.DecisionTreeClassifier", {"max_depth": 3})


@pytest.fixture(scope="module")
def diabetes(workdir: Path) -> TrainedModel:
    return trained_model(workdir, "diabetes", diabetes_frame(), "sklearn.linear_model.Ridge")


def one_value_per_feature(trained: TrainedModel, values: dict[str, list]) -> dict:
    rows = len(next(iter(values.values())))
    inputs = []
    for name in trained.columns.numeric:
        inputs.append(
            {
                "name": name,
                "shape": [rows],
                "datatype": "FP64",
                "data": values.get(name, [float(trained.frame[name].median())] * rows),
            }
        )
    for name in trained.columns.categorical:
        inputs.append({"name": name, "shape": [rows], "datatype": "BYTES", "data": values.get(name, ["north"] * rows)})
    return {"inputs": inputs}


def test_feature_values_land_in_the_profile_buckets(iris, workdir) -> None:
    feature = "sepal_length_cm"
    edges = iris.profile["columns"][feature]["binEdges"]
    # At the first edge, exactly at the third, between the third and fourth, and beyond the last.
    sent = [edges[0], edges[2], (edges[2] + edges[3]) / 2, edges[-1] + 10.0]
    with running_server(iris, workdir) as server:
        status, _ = server.client().post("/v2/models/iris/infer", one_value_per_feature(iris, {feature: sent}))
        assert status == 200
        text = server.metrics()
    labels = {"model": "iris", "feature": feature}
    cumulative = [metric_value(text, "ballast_feature_value_bucket", le=floatToGoString(e), **labels) for e in edges]
    expected = [sum(v <= e for v in sent) for e in edges]
    assert cumulative == expected
    assert metric_value(text, "ballast_feature_value_bucket", le="+Inf", **labels) == 4
    assert metric_value(text, "ballast_feature_value_count", **labels) == 4
    assert metric_value(text, "ballast_feature_value_sum", **labels) == pytest.approx(sum(sent))
    assert metric_value(text, "ballast_serving_rows_total", model="iris") == 4


def test_predictions_and_probabilities_are_counted(iris, workdir) -> None:
    rows = iris.frame.drop(columns="target").iloc[[0, 1, 60, 149]]
    with running_server(iris, workdir) as server:
        _, response = server.client().post("/v2/models/iris/infer", {"inputs": named_inputs(rows, iris.columns)})
        text = server.metrics()
    predicted = response["outputs"][0]["data"]
    for label in (0, 1, 2):
        assert metric_value(
            text, "ballast_prediction_class_total", model="iris", **{"class": str(label)}
        ) == predicted.count(label)
    probabilities = np.array(response["outputs"][1]["data"]).reshape(4, 3)
    top = probabilities.max(axis=1)
    assert metric_value(text, "ballast_prediction_max_probability_count", model="iris") == 4
    assert metric_value(text, "ballast_prediction_max_probability_bucket", model="iris", le="0.5") == (top <= 0.5).sum()
    assert (
        metric_value(text, "ballast_prediction_class_probability_bucket", model="iris", le="0.1", **{"class": "2"})
        == (probabilities[:, 2] <= 0.1).sum()
    )


def test_categories_unseen_values_and_missing_values(mixed, workdir) -> None:
    values = {"clinic": ["north", "west", "west", None], "mean_radius": [None, 12.0, None, 14.0]}
    with running_server(mixed, workdir) as server:
        status, _ = server.client().post("/v2/models/mixed/infer", one_value_per_feature(mixed, values))
        assert status == 200
        text = server.metrics()
    category = {"model": "mixed", "feature": "clinic"}
    assert metric_value(text, "ballast_feature_category_total", category="north", **category) == 1
    assert metric_value(text, "ballast_feature_category_total", category="__unseen__", **category) == 2
    assert metric_value(text, "ballast_feature_category_total", category="south", **category) == 0
    assert metric_value(text, "ballast_feature_missing_total", **category) == 1
    assert metric_value(text, "ballast_feature_missing_total", model="mixed", feature="mean_radius") == 2
    assert metric_value(text, "ballast_feature_value_count", model="mixed", feature="mean_radius") == 2


def test_the_reference_is_the_training_data_in_the_same_buckets(mixed, workdir) -> None:
    with running_server(mixed, workdir) as server:
        text = server.metrics(REFERENCE_PATH)
        scraped = server.metrics()
    # the same in every pod of a version: the operator reads it once, Prometheus never per pod
    assert "ballast_reference_" not in scraped and "ballast_feature_" not in text
    model = {"model": "mixed"}
    column = mixed.frame["mean_radius"].dropna().to_numpy()
    edges = mixed.profile["columns"]["mean_radius"]["binEdges"]
    # Independently of the server: share of present values in (edge[i-1], edge[i]].
    indices = np.searchsorted(np.array(edges), column, side="left")
    for i, edge in enumerate(edges):
        assert metric_value(
            text, "ballast_reference_feature_bin_ratio", feature="mean_radius", bin=floatToGoString(edge), **model
        ) == pytest.approx((indices == i).mean())
    assert metric_value(
        text, "ballast_reference_feature_missing_ratio", feature="mean_radius", **model
    ) == pytest.approx(mixed.frame["mean_radius"].isna().mean())
    clinic = mixed.frame["clinic"].dropna()
    assert metric_value(
        text, "ballast_reference_feature_bin_ratio", feature="clinic", bin="east", **model
    ) == pytest.approx((clinic == "east").mean())
    assert metric_value(text, "ballast_reference_feature_bin_ratio", feature="clinic", bin="__unseen__", **model) == 0
    assert metric_value(text, "ballast_reference_prediction_bin_ratio", bin="1", **model) == pytest.approx(
        (mixed.frame["target"] == 1).mean()
    )
    assert metric_value(text, "ballast_reference_rows", **model) == len(mixed.frame)


def test_feedback_by_id_and_by_value_fills_the_confusion_counts(iris, workdir) -> None:
    rows = iris.frame.drop(columns="target").iloc[[0, 60, 149]]
    with running_server(iris, workdir) as server:
        client = server.client()
        _, response = client.post("/v2/models/iris/infer", {"id": "req-1", "inputs": named_inputs(rows, iris.columns)})
        predicted = response["outputs"][0]["data"]
        truth = [0, 2, None]  # the second is labelled wrongly on purpose, the third has no label
        status, answer = client.post("/v2/models/iris/feedback", {"id": "req-1", "labels": truth})
        assert status == 200 and answer["matched"] == 2 and answer["unmatched"] == 0
        # The same prediction takes feedback once.
        status, again = client.post("/v2/models/iris/feedback", {"id": "req-1", "labels": truth})
        assert status == 200 and again["matched"] == 0 and again["unmatched"] == 2 and again["unknown_ids"] == ["req-1"]
        status, by_value = client.post(
            "/v2/models/iris/feedback",
            [{"inputs": named_inputs(rows.iloc[[2]], iris.columns), "labels": ["virginica-typo"]}],
        )
        assert status == 200 and by_value["matched"] == 1
        status, error = client.post("/v2/models/iris/feedback", {"id": "nope", "inputs": [], "labels": [1]})
        assert status == 400 and "either `id`" in error["error"]
        status, error = client.post(
            "/v2/models/iris/infer", {"id": "req-2", "inputs": named_inputs(rows, iris.columns)}
        )
        status, error = client.post("/v2/models/iris/feedback", {"id": "req-2", "labels": [1]})
        assert status == 400 and "had 3 row(s)" in error["error"]
        text = server.metrics()
    model = {"model": "iris"}
    assert (
        metric_value(
            text, "ballast_feedback_confusion_total", true_class="0", predicted_class=str(predicted[0]), **model
        )
        == 1
    )
    assert (
        metric_value(
            text, "ballast_feedback_confusion_total", true_class="2", predicted_class=str(predicted[1]), **model
        )
        == 1
    )
    assert (
        metric_value(
            text,
            "ballast_feedback_confusion_total",
            true_class="__unseen__",
            predicted_class=str(predicted[2]),
            **model,
        )
        == 1
    )
    assert metric_value(text, "ballast_feedback_rows_total", result="matched", **model) == 3
    assert metric_value(text, "ballast_feedback_rows_total", result="unmatched", **model) == 2


def test_a_regressor_histogram_and_feedback_errors(diabetes, workdir) -> None:
    rows = diabetes.frame.drop(columns="target").iloc[:5]
    with running_server(diabetes, workdir) as server:
        client = server.client()
        _, response = client.post("/v2/models/diabetes/infer", {"inputs": named_inputs(rows, diabetes.columns)})
        predicted = np.array(response["outputs"][0]["data"])
        truth = diabetes.frame["target"].iloc[:5].to_numpy()
        status, answer = client.post("/v2/models/diabetes/feedback", {"id": response["id"], "labels": truth.tolist()})
        assert status == 200 and answer["matched"] == 5
        text = server.metrics()
    model = {"model": "diabetes"}
    edges = diabetes.profile["columns"]["target"]["binEdges"]
    assert (
        metric_value(text, "ballast_prediction_value_bucket", le=floatToGoString(edges[5]), **model)
        == (predicted <= edges[5]).sum()
    )
    assert metric_value(text, "ballast_prediction_value_count", **model) == 5
    errors = predicted - truth
    assert metric_value(text, "ballast_feedback_absolute_error_total", **model) == pytest.approx(np.abs(errors).sum())
    assert metric_value(text, "ballast_feedback_squared_error_total", **model) == pytest.approx((errors**2).sum())
    assert metric_value(text, "ballast_feedback_signed_error", **model) == pytest.approx(errors.sum())
