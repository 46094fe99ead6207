"""The pure parts of benchmarks/serve_compare.py: request bodies, answers, percentiles, the table
and the estimator the peers rebuild. Starting servers and peer virtualenvs is the benchmark's job."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_iris

# tritonclient's messages, not Ballast's: both register the OIP proto's names, and the unit
# suite's gRPC tests import tritonclient's (one process cannot hold both)
from tritonclient.grpc import service_pb2 as pb

from tests.support.scripts import load_script

ROOT = Path(__file__).resolve().parents[2]
script = load_script(ROOT / "benchmarks" / "serve_compare.py")


def test_a_body_carries_one_2d_tensor_of_the_rows_and_asks_for_predict_only_when_told():
    matrix = script.iris_rows(100)
    default = json.loads(script.infer_body(matrix, "default"))
    predict_only = json.loads(script.infer_body(matrix, "predict"))
    assert "outputs" not in default
    assert predict_only["outputs"] == [{"name": "predict"}]
    (tensor,) = predict_only["inputs"]
    assert tensor["shape"] == [100, 4] and tensor["datatype"] == "FP64"
    assert tensor["data"] == default["inputs"][0]["data"]
    assert np.array_equal(np.array(tensor["data"]), load_iris().data[:100])


def test_rows_past_the_dataset_cycle_through_it():
    rows = script.iris_rows(152)
    assert rows[150] == rows[0] and rows[151] == rows[1]


def test_ballast_is_measured_with_its_default_answer_and_predict_only_the_peers_predict_only():
    assert [(c.protocol, c.rows, c.answer) for c in script.cases_for("ballast")] == [
        ("REST", 1, "default"),
        ("REST", 1, "predict"),
        ("REST", 100, "default"),
        ("REST", 100, "predict"),
        ("gRPC", 1, "predict"),
        ("gRPC", 100, "predict"),
    ]
    assert [(c.protocol, c.rows, c.answer) for c in script.cases_for("mlserver")] == [
        ("REST", 1, "predict"),
        ("REST", 100, "predict"),
        ("gRPC", 1, "predict"),
        ("gRPC", 100, "predict"),
    ]


def test_the_grpc_request_carries_the_same_matrix_and_asks_for_predict_only():
    request = script.grpc_request(script.iris_rows(100), pb)
    (tensor,) = request.inputs
    assert (tensor.name, tensor.datatype, list(tensor.shape)) == ("input-0", "FP64", [100, 4])
    assert np.array_equal(np.array(tensor.contents.fp64_contents).reshape(100, 4), load_iris().data[:100])
    assert [output.name for output in request.outputs] == ["predict"]


def test_grpc_predictions_are_read_from_raw_bytes_or_typed_contents():
    Output = pb.ModelInferResponse.InferOutputTensor
    proba = Output(name="predict_proba", datatype="FP64", shape=[3, 3])
    raw = pb.ModelInferResponse(
        outputs=[proba, Output(name="predict", datatype="INT64", shape=[3])],
        raw_output_contents=[np.zeros(9).tobytes(), np.array([0, 2, 1], dtype="<i8").tobytes()],
    )
    typed = pb.ModelInferResponse(
        outputs=[
            Output(
                name="predict", datatype="INT64", shape=[3], contents=pb.InferTensorContents(int64_contents=[0, 2, 1])
            )
        ]
    )
    assert script.grpc_predictions(raw) == script.grpc_predictions(typed) == [0, 2, 1]
    with pytest.raises(ValueError, match="no `predict` output"):
        script.grpc_predictions(pb.ModelInferResponse(outputs=[proba]))


@pytest.mark.parametrize(
    "output",
    [
        {"name": "predict", "shape": [3], "data": [0, 2, 1]},
        {"name": "predict", "shape": [3, 1], "data": [[0], [2], [1]]},
    ],
)
def test_the_predictions_are_read_flat_whichever_shape_the_server_answers(output):
    proba = {"name": "predict_proba", "shape": [3, 3], "data": [0.1] * 9}
    assert script.predictions({"outputs": [proba, output]}) == [0, 2, 1]


def test_an_answer_without_predict_is_refused():
    with pytest.raises(ValueError, match="no `predict` output"):
        script.predictions({"outputs": [{"name": "predict_proba", "data": []}]})


def test_percentiles_take_the_nearest_rank_below():
    latencies = [i / 1000 for i in range(1, 201)]  # 1 ms to 200 ms
    assert script.percentiles_ms(latencies) == pytest.approx((101.0, 199.0))


def test_the_table_names_what_each_server_answered_and_how_it_was_asked():
    ballast, kserve = script.Case("ballast", 100, "default"), script.Case("kserve", 1, "predict", "gRPC")
    results = [
        script.Measured(ballast, 1.1404, 1.47, 860.4, 6512, 0),
        script.Measured(kserve, 0.95, 1.35, 1013.0, 310, 2),
    ]
    lines = script.table(results, {"ballast": "Ballast", "kserve": "KServe"}).splitlines()
    header = ["server", "via", "rows", "answer", "p50", "ms", "p99", "ms", "req/s", "resp", "bytes"]
    assert lines[0].split() == header
    assert lines[2].split() == [
        "Ballast",
        "REST",
        "100",
        "predict",
        "+",
        "predict_proba",
        "1.140",
        "1.470",
        "860",
        "6512",
    ]
    assert lines[3].split() == ["KServe", "gRPC", "1", "predict", "0.950", "1.350", "1013", "310", "(2", "errors)"]


def test_the_rebuilt_estimator_predicts_what_the_fitted_pipeline_does():
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    data = load_iris()
    numeric = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    fitted = Pipeline(
        [
            ("preprocess", ColumnTransformer([("numeric", numeric, [0, 1, 2, 3])])),
            ("model", LogisticRegression(random_state=1)),
        ]
    ).fit(data.data, data.target)
    rebuilt = script.rebuilt_estimator(json.loads(json.dumps(script.fitted_parameters(fitted))))
    assert np.array_equal(rebuilt.predict(data.data), fitted.predict(data.data))
    assert np.allclose(rebuilt.predict_proba(data.data), fitted.predict_proba(data.data))
