"""Every kind of bad request gets the protocol's error, with a 4xx status, and the server keeps serving."""

from __future__ import annotations

import json

import pytest

from tests.unit.test_serving_harness import (
    TrainedModel,
    iris_frame,
    metric_value,
    running_server,
    trained_model,
)

FEATURES = ["sepal_length_cm", "sepal_width_cm", "petal_length_cm", "petal_width_cm"]


def tensor(name: str, data, datatype: str = "FP64", shape=None) -> dict:
    return {"name": name, "shape": shape if shape is not None else [len(data)], "datatype": datatype, "data": data}


def good_inputs(rows: int = 1) -> list[dict]:
    return [tensor(name, [5.0] * rows) for name in FEATURES]


# (what is wrong, body, expected status, a fragment of the error message)
BAD_REQUESTS = [
    ("malformed JSON", b'{"inputs": [', 400, "malformed JSON"),
    ("empty body", b"", 400, "no body"),
    ("not an object", b"[1, 2]", 400, "JSON object"),
    ("no inputs", {"id": "x"}, 400, "`inputs` must be a non-empty list"),
    ("tensor without data", {"inputs": [{"name": "a", "shape": [1], "datatype": "FP64"}]}, 400, "has no `data`"),
    ("unknown datatype", {"inputs": [tensor("m", [[1, 2, 3, 4]], "FP128", [1, 4])]}, 400, "unknown datatype"),
    ("string in FP64", {"inputs": [tensor(n, ["five"]) for n in FEATURES]}, 400, "holds numbers"),
    ("BYTES for a numeric feature", {"inputs": [tensor(n, ["5.0"], "BYTES") for n in FEATURES]}, 400, "is numeric"),
    ("float in INT64", {"inputs": [tensor(n, [5.5], "INT64") for n in FEATURES]}, 400, "non-integers"),
    ("number in BOOL", {"inputs": [tensor(n, [1], "BOOL") for n in FEATURES]}, 400, "true/false"),
    ("INT8 out of range", {"inputs": [tensor(n, [300], "INT8") for n in FEATURES]}, 400, "outside the range"),
    (
        "infinity",
        b'{"inputs": ['
        + b",".join(json.dumps(tensor(n, [1.0])).replace("1.0", "Infinity").encode() for n in FEATURES)
        + b"]}",
        400,
        "infinite",
    ),
    (
        "shape disagrees with data",
        {"inputs": [tensor(n, [1.0, 2.0], shape=[3]) for n in FEATURES]},
        400,
        "needs 3 values",
    ),
    (
        "ragged rows",
        {"inputs": [tensor(n, [1.0], shape=[1]) for n in FEATURES[:3]] + [tensor(FEATURES[3], [1.0, 2.0])]},
        400,
        "different numbers of rows",
    ),
    (
        "missing feature",
        {"inputs": [tensor(n, [1.0]) for n in FEATURES[:3]]},
        400,
        "missing input(s) for feature(s) petal_width_cm",
    ),
    ("unknown input", {"inputs": good_inputs() + [tensor("colour", [1.0])]}, 400, "unknown input(s) 'colour'"),
    ("2-D tensor of the wrong width", {"inputs": [tensor("m", [[1.0, 2.0, 3.0]], shape=[1, 3])]}, 400, "is not [n, 4]"),
    (
        "2-D named feature",
        {"inputs": [tensor(n, [[1.0, 2.0]], shape=[1, 2]) for n in FEATURES]},
        400,
        "is not [n] or [n, 1]",
    ),
    ("negative dimension", {"inputs": [tensor("m", [1.0], shape=[-1, 4])]}, 400, "non-negative integers"),
    ("non-string id", {"id": 7, "inputs": good_inputs()}, 400, "`id` must be a string"),
    ("a feature given twice", {"inputs": good_inputs() + [tensor(FEATURES[0], [1.0])]}, 400, "given twice"),
    # hostile: the JSON parser's recursion, a float's range, numpy's dimension limit
    ("JSON nested 100,000 deep", b'{"inputs": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 400, "nested"),
    (
        "an integer beyond any float",
        b'{"inputs": ['
        + b",".join(json.dumps(tensor(n, [1.0])).replace("1.0", "1" + "0" * 400).encode() for n in FEATURES)
        + b"]}",
        400,
        "too large",
    ),
    ("a shape of 65 dimensions", {"inputs": [tensor("m", [1.0] * 4, shape=[1] * 64 + [4])]}, 400, "dimensions"),
]


@pytest.fixture(scope="module")
def iris(tmp_path_factory) -> TrainedModel:
    return trained_model(
        tmp_path_factory.mktemp("errors"),
        "iris",
        iris_frame(),
        "sklearn.ensemble.RandomForestClassifier",
        {"n_estimators": 5},
    )


@pytest.fixture(scope="module")
def server(iris: TrainedModel, tmp_path_factory):
    with running_server(iris, tmp_path_factory.mktemp("errors-server")) as running:
        yield running


@pytest.mark.parametrize("case", BAD_REQUESTS, ids=[case[0] for case in BAD_REQUESTS])
def test_a_bad_infer_request_gets_a_protocol_error_and_the_server_keeps_serving(server, case) -> None:
    _, body, expected_status, fragment = case
    client = server.client()
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    status, response = client.post("/v2/models/iris/infer", raw=raw)
    assert status == expected_status
    assert set(response) == {"error"} and fragment in response["error"], response
    # The same connection, and the server, still answer a good request.
    status, good = client.post("/v2/models/iris/infer", {"inputs": good_inputs(2)})
    assert status == 200 and good["outputs"][0]["shape"] == [2]


def test_a_value_the_model_refuses_is_a_400_not_a_crash(server) -> None:
    # Finite in float64, infinite in the float32 a forest predicts on: sklearn refuses it.
    status, response = server.client().post(
        "/v2/models/iris/infer", {"inputs": [tensor(name, [1e300]) for name in FEATURES]}
    )
    assert status == 400 and "the model cannot take this input" in response["error"]


def test_routing_errors_in_the_protocols_shape(server) -> None:
    client = server.client()
    status, response = client.post("/v2/models/roses/infer", {"inputs": good_inputs()})
    assert status == 404 and "unknown model 'roses'" in response["error"]
    status, response = client.get("/v2/models/iris/versions/other")
    assert status == 404 and "unknown version 'other'" in response["error"]
    status, response = client.get("/v2/nothing-here")
    assert status == 404 and set(response) == {"error"}
    status, response = client.get("/v2/models/iris/infer")
    assert status == 405 and set(response) == {"error"}


def test_a_body_over_the_limit_is_refused(iris, tmp_path) -> None:
    with running_server(iris, tmp_path, max_request_bytes=1000) as small:
        client = small.client()
        status, response = client.post("/v2/models/iris/infer", {"inputs": good_inputs(200)})
        assert status == 413 and "larger than 1000 bytes" in response["error"]


def test_errors_are_counted_by_endpoint_and_code(server) -> None:
    client = server.client()
    before = _errors(server.metrics())
    client.post("/v2/models/iris/infer", raw=b"nope")
    client.post("/v2/models/roses/infer", {"inputs": good_inputs()})
    client.post("/v2/models/iris/infer", {"inputs": good_inputs()})
    after = _errors(server.metrics())
    assert after[("infer", "400")] == before.get(("infer", "400"), 0) + 1
    assert after[("infer", "404")] == before.get(("infer", "404"), 0) + 1
    text = server.metrics()
    model = {"model": "iris", "version": server.loaded.service.signature.version}
    assert metric_value(text, "ballast_serving_requests_total", endpoint="infer", code="200", **model) >= 1


def _errors(text: str) -> dict[tuple[str, str], float]:
    found = {}
    for code in ("400", "404"):
        try:
            found[("infer", code)] = metric_value(
                text, "ballast_serving_request_errors_total", endpoint="infer", code=code
            )
        except AssertionError:
            pass
    return found


def test_model_paths_are_matched_exactly_and_nothing_else_is_a_model_route() -> None:
    from ballast.serving.app import model_route

    assert model_route("/v2/models/iris") == (None, "iris", None)
    assert model_route("/v2/models/iris/infer") == ("infer", "iris", None)
    assert model_route("/v2/models/iris/versions/3") == (None, "iris", "3")
    assert model_route("/v2/models/iris/versions/3/ready") == ("ready", "iris", "3")
    for path in ("/v2/models/", "/v2/models//infer", "/v2/models/iris/versions//infer", "/v2/model/iris", "/v2"):
        assert model_route(path) is None, path
    # an unknown action is matched here and refused by the server as Not Found
    assert model_route("/v2/models/iris/versions") == ("versions", "iris", None)
    assert model_route("/v2/models/iris/infer/more") is None
