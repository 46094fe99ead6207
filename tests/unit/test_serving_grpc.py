"""The Open Inference Protocol's gRPC API against a `ballast serve` process: Triton's gRPC
client for every RPC with raw tensors (its default), requests built from Triton's own generated
messages for typed contents and hostile ones, the status code of each refusal, and the REST
metrics that count gRPC calls too.

Ballast's generated stubs are never imported here: they and tritonclient's register the same
`inference.*` message names, which one process's protobuf descriptor pool holds once.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import grpc
import numpy as np
import pandas as pd
import pytest
import tritonclient.grpc as triton
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc as pb_grpc

from ballast.runtime.serve import parse_serve_args
from tests.support.net import free_port
from tests.unit.test_serving_binary_http import MAX_REQUEST_BYTES, MAX_ROWS, known_clinic_rows
from tests.unit.test_serving_harness import (
    Client,
    TrainedModel,
    expected_outputs,
    metric_value,
    mixed_frame,
    species_frame,
    trained_model,
)
from tests.unit.test_serving_process import REPO, serve_command, wait_until_ready


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("grpc")


@pytest.fixture(scope="module")
def mixed(workdir: Path) -> TrainedModel:
    """Two numeric features and a categorical one (`clinic`), classes 0 and 1."""
    return trained_model(workdir, "mixed", mixed_frame(), "sklearn.linear_model.LogisticRegression")


class Rest(NamedTuple):
    """REST calls on a connection of their own: the server closes one left idle past its keep-alive."""

    port: int

    def get(self, path: str) -> tuple[int, Any]:
        return self._call(lambda client: client.get(path))

    def post(self, path: str, body: Any) -> tuple[int, Any]:
        return self._call(lambda client: client.post(path, body))

    def _call(self, request: Callable[[Client], tuple[int, Any]]) -> tuple[int, Any]:
        client = Client(self.port)
        try:
            return request(client)
        finally:
            client.close()


class Served(NamedTuple):
    client: triton.InferenceServerClient
    stub: pb_grpc.GRPCInferenceServiceStub
    """For requests tritonclient would not send: typed contents, hostile messages."""
    rest: Rest
    process: subprocess.Popen


@contextmanager
def served(trained: TrainedModel, workdir: Path, *extra: str) -> Iterator[Served]:
    port, grpc_port = free_port(), free_port()
    log = workdir / f"{trained.model}-{port}-termination-log"
    limits = ("--max-rows", str(MAX_ROWS), "--max-request-bytes", str(MAX_REQUEST_BYTES), *extra)
    command = serve_command(trained, log, port, *limits, grpc_port=grpc_port)
    process = subprocess.Popen(command, stderr=subprocess.DEVNULL, cwd=REPO)
    client = triton.InferenceServerClient(f"127.0.0.1:{grpc_port}")
    # A client's own cap on what it receives would hide the server's: lift it, so the server's shows.
    channel = grpc.insecure_channel(f"127.0.0.1:{grpc_port}", options=[("grpc.max_send_message_length", -1)])
    try:
        wait_until_ready(process, log, client.is_server_ready)
        yield Served(client, pb_grpc.GRPCInferenceServiceStub(channel), Rest(port), process)
    finally:
        channel.close()
        client.close()
        process.terminate()
        process.wait(15)


@pytest.fixture(scope="module")
def server(mixed: TrainedModel, workdir: Path) -> Iterator[Served]:
    with served(mixed, workdir) as running:
        yield running


def triton_inputs(rows: pd.DataFrame, trained: TrainedModel) -> list[triton.InferInput]:
    """One raw tensor per feature, as tritonclient sends them (raw_input_contents)."""
    inputs = []
    for name in trained.columns.numeric:
        values = rows[name].to_numpy(dtype=np.float64)  # NaN: a missing value
        inputs.append(triton.InferInput(name, list(values.shape), "FP64"))
        inputs[-1].set_data_from_numpy(values)
    for name in trained.columns.categorical:
        values = rows[name].astype(str).to_numpy(dtype=np.object_)
        inputs.append(triton.InferInput(name, list(values.shape), "BYTES"))
        inputs[-1].set_data_from_numpy(values)
    return inputs


def typed_request(rows: pd.DataFrame, trained: TrainedModel, **fields: object) -> pb.ModelInferRequest:
    """The rows as typed contents: fp64_contents and bytes_contents."""
    request = pb.ModelInferRequest(model_name=trained.model, **fields)
    for name in trained.columns.numeric:
        tensor = request.inputs.add(name=name, datatype="FP64", shape=[len(rows)])
        tensor.contents.fp64_contents.extend(rows[name].to_numpy(dtype=np.float64).tolist())
    for name in trained.columns.categorical:
        tensor = request.inputs.add(name=name, datatype="BYTES", shape=[len(rows)])
        tensor.contents.bytes_contents.extend(str(v).encode() for v in rows[name])
    return request


def refusal(call) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    return raised.value


def test_health_and_metadata_rpcs(server, mixed) -> None:
    client = server.client
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("mixed") and client.is_model_ready("mixed", mixed.sha256[:12])
    metadata = client.get_server_metadata(as_json=True)
    assert metadata["name"] == "ballast" and "binary_tensor_data" in metadata["extensions"]
    model = client.get_model_metadata("mixed", as_json=True)
    assert model["name"] == "mixed" and model["versions"] == [mixed.sha256[:12]]
    assert model["platform"] == "sklearn"
    assert [(t["name"], t["datatype"], t["shape"]) for t in model["inputs"]] == [
        *((name, "FP64", ["-1"]) for name in mixed.columns.numeric),
        *((name, "BYTES", ["-1"]) for name in mixed.columns.categorical),
    ]
    assert [(t["name"], t["datatype"]) for t in model["outputs"]] == [("predict", "INT64"), ("predict_proba", "FP64")]
    # What REST says of the model, gRPC says too.
    status, document = server.rest.get("/v2/models/mixed")
    assert status == 200 and [t["name"] for t in document["inputs"]] == [t["name"] for t in model["inputs"]]


def test_an_unknown_model_or_version_is_not_found(server) -> None:
    for call in (
        lambda: server.client.is_model_ready("iris"),
        lambda: server.client.get_model_metadata("iris"),
        lambda: server.client.get_model_metadata("mixed", "not-a-version"),
        lambda: server.client.infer("iris", []),
    ):
        with pytest.raises(triton.InferenceServerException) as raised:
            call()
        assert raised.value.status() == "StatusCode.NOT_FOUND", raised.value


def test_raw_tensors_give_the_pipelines_own_predictions(server, mixed) -> None:
    rows = known_clinic_rows(mixed, 25)
    labels, probabilities = expected_outputs(mixed, rows)
    result = server.client.infer("mixed", triton_inputs(rows, mixed), request_id="grpc-raw-1")
    response = result.get_response()
    assert response.id == "grpc-raw-1" and response.model_name == "mixed"
    assert response.model_version == mixed.sha256[:12]
    assert result.as_numpy("predict").dtype == np.int64 and result.as_numpy("predict").tolist() == labels.tolist()
    # Bit for bit: raw outputs are the float64 bytes.
    assert result.as_numpy("predict_proba").tolist() == probabilities.tolist()
    proba = result.get_output("predict_proba")
    assert list(proba.shape) == [25, 2] and json.loads(proba.parameters["classes"].string_param) == [0, 1]


def test_typed_contents_give_the_same_predictions_and_a_server_made_id(server, mixed) -> None:
    rows = known_clinic_rows(mixed, 7)
    labels, probabilities = expected_outputs(mixed, rows)
    response = server.stub.ModelInfer(typed_request(rows, mixed))
    assert [o.name for o in response.outputs] == ["predict", "predict_proba"]
    assert np.frombuffer(response.raw_output_contents[0], "<i8").tolist() == labels.tolist()
    assert np.frombuffer(response.raw_output_contents[1], "<f8").reshape(-1, 2).tolist() == probabilities.tolist()
    assert len(response.id) == 22  # made up by the server, for feedback by id


def test_only_the_outputs_asked_for(server, mixed) -> None:
    rows = known_clinic_rows(mixed, 3)
    labels, _ = expected_outputs(mixed, rows)
    outputs = [triton.InferRequestedOutput("predict")]
    result = server.client.infer("mixed", triton_inputs(rows, mixed), outputs=outputs)
    assert [o.name for o in result.get_response().outputs] == ["predict"]
    assert result.as_numpy("predict").tolist() == labels.tolist()


def test_a_2d_fp32_matrix_and_bytes_labels(workdir) -> None:
    species = trained_model(workdir, "species", species_frame(), "sklearn.linear_model.LogisticRegression")
    rows = species.frame.drop(columns="target").iloc[::10]
    values = rows[list(species.columns.all)].to_numpy(dtype=np.float32)
    labels, _ = expected_outputs(species, rows.astype(np.float32).astype(np.float64))
    with served(species, workdir) as running:
        matrix = triton.InferInput("features", list(values.shape), "FP32")
        matrix.set_data_from_numpy(values)
        result = running.client.infer("species", [matrix], outputs=[triton.InferRequestedOutput("predict")])
        typed = pb.ModelInferRequest(model_name="species")
        tensor = typed.inputs.add(name="features", datatype="FP32", shape=list(values.shape))
        tensor.contents.fp32_contents.extend(values.ravel().tolist())
        typed_answer = running.stub.ModelInfer(typed)
    assert result.get_output("predict").datatype == "BYTES"
    assert [label.decode() for label in result.as_numpy("predict")] == labels.tolist()
    assert typed_answer.raw_output_contents[0] == result.get_response().raw_output_contents[0]


def test_a_large_request_is_computed_off_the_loop(server, mixed) -> None:
    rows = mixed.frame.drop(columns="target").fillna({"clinic": "north"}).sample(MAX_ROWS, replace=True, random_state=1)
    labels, _ = expected_outputs(mixed, rows)
    inputs = triton_inputs(rows, mixed)
    assert sum(len(i._raw_content) for i in inputs) > 64 * 1024  # past the inline limit: a worker thread's
    result = server.client.infer("mixed", inputs, outputs=[triton.InferRequestedOutput("predict")])
    assert result.as_numpy("predict").tolist() == labels.tolist()


def bad_requests(mixed: TrainedModel) -> list[tuple[pb.ModelInferRequest, str]]:
    rows = known_clinic_rows(mixed, 2)
    cases = []

    def case(message: str, **fields: object):
        request = typed_request(rows, mixed, **fields)
        cases.append((request, message))
        return request

    case("missing input", id="x").inputs.pop()
    wrong_field = case("go in contents.fp64_contents")
    wrong_field.inputs[0].contents.ClearField("fp64_contents")
    wrong_field.inputs[0].contents.fp32_contents.extend([1.0, 2.0])
    case("needs 2 values").inputs[0].contents.fp64_contents.append(3.0)
    case("unknown datatype").inputs[0].datatype = "FP128"
    fp16 = case("only in raw_input_contents")
    fp16.inputs[0].datatype = "FP16"
    fp16.inputs[0].contents.Clear()
    case("is not UTF-8").inputs[-1].contents.bytes_contents[0] = b"\xff\xfe"
    case("send one form").raw_input_contents.extend([b"\0" * 16] * len(mixed.columns.all))
    case("entries for").raw_input_contents.append(b"\0" * 16)
    case("infinite").inputs[0].contents.fp64_contents[0] = float("inf")
    case("at most 2000").inputs[0].shape[0] = MAX_ROWS + 1
    case("`id` has").id = "x" * 200
    case("unknown output").outputs.add(name="predict_log_proba")
    raw = pb.ModelInferRequest(model_name="mixed")
    for name in mixed.columns.numeric:
        raw.inputs.add(name=name, datatype="FP64", shape=[2])
        raw.raw_input_contents.append(b"\0" * 15)
    raw.inputs.add(name="clinic", datatype="BYTES", shape=[2])
    raw.raw_input_contents.append(b"\x05\0\0\0north")
    cases.append((raw, "take 16 bytes, not 15"))
    return cases


def test_bad_requests_are_invalid_argument_and_counted_as_rest_counts_them(server, mixed) -> None:
    before = server.rest.get("/metrics")[1]
    cases = bad_requests(mixed)
    for request, message in cases:
        error = refusal(lambda: server.stub.ModelInfer(request))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and message in error.details(), error
    after = server.rest.get("/metrics")[1]
    counted = {"endpoint": "infer", "code": "400"}
    rejected = metric_value(after, "ballast_serving_request_errors_total", **counted)
    assert rejected - _value_or_zero(before, "ballast_serving_request_errors_total", **counted) == len(cases)
    assert server.client.is_model_ready("mixed")


def _value_or_zero(text: str, name: str, **labels: str) -> float:
    try:
        return metric_value(text, name, **labels)
    except AssertionError:
        return 0.0


def test_a_message_over_the_size_limit_is_resource_exhausted(server, mixed) -> None:
    request = pb.ModelInferRequest(model_name="mixed")
    request.inputs.add(name="age", datatype="FP64", shape=[1])
    request.raw_input_contents.append(b"\0" * (MAX_REQUEST_BYTES + 1))
    error = refusal(lambda: server.stub.ModelInfer(request))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error
    assert server.client.is_server_live()


def test_grpc_predictions_are_monitored_as_rest_ones(server, mixed) -> None:
    rows = known_clinic_rows(mixed, 4)
    before = server.rest.get("/metrics")[1]
    server.client.infer("mixed", triton_inputs(rows, mixed))
    server.stub.ModelInfer(typed_request(rows, mixed))
    status, _ = server.rest.post("/v2/models/mixed/infer", {"inputs": _rest_inputs(rows, mixed)})
    assert status == 200
    after = server.rest.get("/metrics")[1]

    def grew(name: str, **labels: str) -> float:
        return metric_value(after, name, **labels) - _value_or_zero(before, name, **labels)

    assert grew("ballast_serving_requests_total", endpoint="infer", code="200") == 3
    assert grew("ballast_serving_rows_total") == 12
    predicted = sum(grew("ballast_prediction_class_total", **{"class": c}) for c in ("0", "1"))
    assert predicted == 12
    numeric = mixed.columns.numeric[0]
    assert grew("ballast_feature_value_count", feature=numeric) == 12


def _rest_inputs(rows: pd.DataFrame, mixed: TrainedModel) -> list[dict]:
    return [
        *(
            {"name": n, "shape": [len(rows)], "datatype": "FP64", "data": rows[n].tolist()}
            for n in mixed.columns.numeric
        ),
        *(
            {"name": n, "shape": [len(rows)], "datatype": "BYTES", "data": rows[n].astype(str).tolist()}
            for n in mixed.columns.categorical
        ),
    ]


def test_the_repository_rpcs_are_not_served(server) -> None:
    with pytest.raises(triton.InferenceServerException) as raised:
        server.client.load_model("mixed")
    assert raised.value.status() == "StatusCode.UNIMPLEMENTED"


def test_the_grpc_port_comes_from_the_flag_then_the_environment_then_8081() -> None:
    required = ["--artifact-uri", "file:///m/model.skops", "--artifact-sha256", "0" * 64]
    assert parse_serve_args(required, {}).grpc_port == 8081
    assert parse_serve_args(required, {"BALLAST_GRPC_PORT": "9001"}).grpc_port == 9001
    assert parse_serve_args([*required, "--grpc-port", "0"], {"BALLAST_GRPC_PORT": "9001"}).grpc_port == 0
    assert parse_serve_args([*required, "--grpc-port", "-1"], {}).grpc_port is None  # REST only
    for unusable in ("-2", "65536", "grpc"):
        with pytest.raises(SystemExit):
            parse_serve_args([*required, "--grpc-port", unusable], {})


def test_a_grpc_port_in_use_fails_the_start_with_its_reason(mixed, workdir) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        log = workdir / "port-in-use-termination-log"
        command = serve_command(mixed, log, free_port(), grpc_port=taken.getsockname()[1])
        finished = subprocess.run(command, stderr=subprocess.DEVNULL, cwd=REPO, timeout=120)
    assert finished.returncode == 1
    assert json.loads(log.read_text())["reason"] == "ListenFailed"


def test_sigterm_drops_grpc_readiness_while_it_still_answers_then_exits(mixed, workdir) -> None:
    with served(mixed, workdir, "--drain-seconds", "2") as running:
        rows = known_clinic_rows(mixed, 2)
        running.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        while running.client.is_server_ready():
            assert time.monotonic() < deadline, "still ready after SIGTERM"
            time.sleep(0.05)
        assert not running.client.is_model_ready("mixed") and running.client.is_server_live()
        # Draining: not ready, so endpoints drop the pod, but a call that still arrives is answered.
        assert running.client.infer("mixed", triton_inputs(rows, mixed)).as_numpy("predict").shape == (2,)
        assert running.process.wait(30) == 0
