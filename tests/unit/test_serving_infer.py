"""The model server's Open Inference Protocol endpoints, against a real server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from tests.unit.test_serving_harness import (
    TrainedModel,
    cancer_frame,
    diabetes_frame,
    expected_outputs,
    iris_frame,
    matrix_input,
    mixed_frame,
    named_inputs,
    running_server,
    trained_model,
)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("serving")


@pytest.fixture(scope="module")
def iris(workdir: Path) -> TrainedModel:
    return trained_model(workdir, "iris", iris_frame(), "sklearn.linear_model.LogisticRegression")


@pytest.fixture(scope="module")
def forest(workdir: Path) -> TrainedModel:
    return trained_model(
        workdir, "cancer", cancer_frame(), "sklearn.ensemble.RandomForestClassifier", {"n_estimators": 15}
    )


@pytest.fixture(scope="module")
def diabetes(workdir: Path) -> TrainedModel:
    return trained_model(
        workdir, "diabetes", diabetes_frame(), "sklearn.ensemble.GradientBoostingRegressor", {"n_estimators": 20}
    )


@pytest.fixture(scope="module")
def mixed(workdir: Path) -> TrainedModel:
    return trained_model(workdir, "mixed", mixed_frame(), "sklearn.linear_model.LogisticRegression")


@pytest.fixture(scope="module")
def iris_server(iris: TrainedModel, workdir: Path):
    with running_server(iris, workdir) as server:
        yield server


def _outputs(response: dict) -> dict[str, dict]:
    return {output["name"]: output for output in response["outputs"]}


def test_health_and_metadata(iris_server, iris) -> None:
    client = iris_server.client()
    assert client.get("/v2/health/live") == (200, {"live": True})
    assert client.get("/v2/health/ready") == (200, {"ready": True})
    status, server = client.get("/v2")
    assert status == 200 and server["name"] == "ballast" and "ballast-feedback" in server["extensions"]
    status, model = client.get("/v2/models/iris")
    assert status == 200
    version = iris.sha256[:12]
    assert model["name"] == "iris" and model["versions"] == [version] and model["platform"] == "sklearn"
    assert [i["name"] for i in model["inputs"]] == list(iris.columns.all)
    assert model["outputs"][1] == {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 3]}
    parameters = model["parameters"]
    assert parameters["predictor"] == "compiled" and json.loads(parameters["classes"]) == [0, 1, 2]
    assert json.loads(parameters["features"]) == list(iris.columns.all)
    # The protocol allows a parameter only a string, number or boolean (lists travel as JSON text).
    assert all(isinstance(value, (str, int, float, bool)) for value in parameters.values()), parameters
    assert client.get("/v2/models/iris/ready") == (200, {"name": "iris", "ready": True})
    assert client.get(f"/v2/models/iris/versions/{version}")[1] == model
    assert client.get(f"/v2/models/iris/versions/{version}/ready")[0] == 200


@pytest.mark.parametrize("rows", [1, 100])
def test_named_and_matrix_inputs_give_the_pipelines_own_predictions(iris_server, iris, rows: int) -> None:
    frame = iris.frame.drop(columns="target").sample(rows, random_state=rows)
    labels, probabilities = expected_outputs(iris, frame)
    client = iris_server.client()
    # Ids are unique per request: a remembered one is refused (tests/unit/test_serving_hardening.py).
    status, named = client.post(
        "/v2/models/iris/infer", {"id": f"named-{rows}", "inputs": named_inputs(frame, iris.columns)}
    )
    assert status == 200, named
    status, matrix = client.post(
        "/v2/models/iris/versions/" + iris.sha256[:12] + "/infer", {"inputs": matrix_input(frame, iris.columns)}
    )
    assert status == 200, matrix
    assert named["id"] == f"named-{rows}" and matrix["id"] and matrix["id"] != named["id"]
    assert named["model_name"] == "iris" and named["model_version"] == iris.sha256[:12]
    for response in (named, matrix):
        outputs = _outputs(response)
        assert outputs["predict"]["shape"] == [rows] and outputs["predict"]["datatype"] == "INT64"
        assert outputs["predict"]["data"] == labels.tolist()
        assert outputs["predict_proba"]["shape"] == [rows, 3]
        assert outputs["predict_proba"]["parameters"] == {"classes": "[0,1,2]"}
        # Bit-for-bit: JSON floats round-trip exactly.
        assert outputs["predict_proba"]["data"] == probabilities.ravel().tolist()


def test_a_forest_is_served_exactly(forest, workdir) -> None:
    frame = forest.frame.drop(columns="target").iloc[::5]
    labels, probabilities = expected_outputs(forest, frame)
    with running_server(forest, workdir) as server:
        status, response = server.client().post(
            "/v2/models/cancer/infer", {"inputs": matrix_input(frame, forest.columns)}
        )
    assert status == 200
    assert _outputs(response)["predict"]["data"] == labels.tolist()
    assert _outputs(response)["predict_proba"]["data"] == probabilities.ravel().tolist()
    assert server.loaded.service.predictor.kind == "compiled"


def test_a_regressor_returns_values_only(diabetes, workdir) -> None:
    frame = diabetes.frame.drop(columns="target").iloc[:100]
    values, _ = expected_outputs(diabetes, frame)
    with running_server(diabetes, workdir) as server:
        client = server.client()
        status, response = client.post("/v2/models/diabetes/infer", {"inputs": named_inputs(frame, diabetes.columns)})
        assert status == 200
        assert [o["name"] for o in response["outputs"]] == ["predict"]
        assert response["outputs"][0]["datatype"] == "FP64"
        assert response["outputs"][0]["data"] == values.tolist()
        status, error = client.post(
            "/v2/models/diabetes/infer",
            {"inputs": named_inputs(frame, diabetes.columns), "outputs": [{"name": "predict_proba"}]},
        )
        assert status == 400 and "unknown output(s) 'predict_proba'" in error["error"]


def test_categorical_features_missing_values_and_unseen_categories(mixed, workdir) -> None:
    frame = mixed.frame.drop(columns="target").iloc[:60].copy()
    frame.loc[frame.index[:5], "clinic"] = "west"  # never seen in training
    frame.loc[frame.index[5:10], "mean_texture"] = np.nan
    labels, probabilities = expected_outputs(mixed, frame)
    with running_server(mixed, workdir) as server:
        status, response = server.client().post(
            "/v2/models/mixed/infer", {"inputs": named_inputs(frame, mixed.columns)}
        )
    assert status == 200, response
    assert _outputs(response)["predict"]["data"] == labels.tolist()
    assert _outputs(response)["predict_proba"]["data"] == probabilities.ravel().tolist()


def test_only_the_requested_outputs(iris_server, iris) -> None:
    frame = iris.frame.drop(columns="target").iloc[:2]
    status, response = iris_server.client().post(
        "/v2/models/iris/infer", {"inputs": named_inputs(frame, iris.columns), "outputs": [{"name": "predict_proba"}]}
    )
    assert status == 200 and [o["name"] for o in response["outputs"]] == ["predict_proba"]


def test_datatypes_as_the_protocol_defines_them(iris_server, iris) -> None:
    row = iris.frame.drop(columns="target").iloc[[0]]
    client = iris_server.client()
    base = named_inputs(row, iris.columns)
    _, fp64 = client.post("/v2/models/iris/infer", {"inputs": base})
    # Whole numbers as INT32/INT64, nested data, and FP32 rounding of the values.
    ints = [{**tensor, "datatype": "INT64", "data": [int(round(tensor["data"][0]))]} for tensor in base]
    status, as_ints = client.post("/v2/models/iris/infer", {"inputs": ints})
    assert status == 200
    labels, _ = expected_outputs(iris, row.map(lambda v: float(round(v))))
    assert _outputs(as_ints)["predict"]["data"] == labels.tolist()
    fp32 = [{**tensor, "datatype": "FP32"} for tensor in base]
    status, as_fp32 = client.post("/v2/models/iris/infer", {"inputs": fp32})
    _, expected = expected_outputs(iris, row.astype("float32").astype("float64"))
    assert status == 200 and _outputs(as_fp32)["predict_proba"]["data"] == expected.ravel().tolist()
    nested = [{**tensor, "shape": [1, 1], "data": [tensor["data"]]} for tensor in base]
    assert _outputs(client.post("/v2/models/iris/infer", {"inputs": nested})[1]) == _outputs(fp64)


def test_concurrent_good_and_bad_requests_do_not_disturb_each_other(iris_server, iris) -> None:
    frame = iris.frame.drop(columns="target").iloc[:10]
    expected, _ = expected_outputs(iris, frame)
    good = {"inputs": named_inputs(frame, iris.columns)}
    failures: list[str] = []

    def send(bad: bool) -> None:
        client = iris_server.client()
        for i in range(40):
            if bad:
                status, body = client.post(
                    "/v2/models/iris/infer",
                    raw=b'{"inputs": [' if i % 2 else json.dumps({"inputs": [{"name": "x"}]}).encode(),
                )
                if status != 400 or "error" not in body:
                    failures.append(f"bad request got {status} {body}")
            else:
                status, body = client.post("/v2/models/iris/infer", good)
                if status != 200 or _outputs(body)["predict"]["data"] != expected.tolist():
                    failures.append(f"good request got {status} {body}")
        client.close()

    threads = [threading.Thread(target=send, args=(i % 2 == 1,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not failures, failures[:3]
