"""The binary tensor data extension over HTTP, against a `ballast serve` process: tritonclient's
HTTP client in binary mode (its default) and in JSON mode, for inputs and outputs, and the
metadata it reads; then hostile framing sent by hand."""

from __future__ import annotations

import http.client
import json
import struct
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pytest
import tritonclient.http as triton

from tests.support.net import free_port
from tests.unit.test_serving_harness import (
    TrainedModel,
    expected_outputs,
    mixed_frame,
    species_frame,
    trained_model,
)
from tests.unit.test_serving_process import REPO, serve_command, wait_until_ready

MAX_ROWS = 2000
MAX_REQUEST_BYTES = 256 * 1024


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tritonclient")


@pytest.fixture(scope="module")
def mixed(workdir: Path) -> TrainedModel:
    return trained_model(workdir, "mixed", mixed_frame(), "sklearn.linear_model.LogisticRegression")


@pytest.fixture(scope="module")
def species(workdir: Path) -> TrainedModel:
    """Iris with the species' names as classes: its labels are a BYTES tensor."""
    return trained_model(workdir, "species", species_frame(), "sklearn.linear_model.LogisticRegression")


class Served(NamedTuple):
    client: triton.InferenceServerClient
    port: int


@contextmanager
def served(trained: TrainedModel, workdir: Path) -> Iterator[Served]:
    port = free_port()
    log = workdir / f"{trained.model}-{port}-termination-log"
    limits = ("--max-rows", str(MAX_ROWS), "--max-request-bytes", str(MAX_REQUEST_BYTES))
    process = subprocess.Popen(serve_command(trained, log, port, *limits), stderr=subprocess.DEVNULL, cwd=REPO)
    client = triton.InferenceServerClient(f"127.0.0.1:{port}")
    try:
        wait_until_ready(process, log, client.is_server_ready)
        yield Served(client, port)
    finally:
        client.close()
        process.terminate()
        process.wait(15)


@pytest.fixture(scope="module")
def mixed_server(mixed: TrainedModel, workdir: Path) -> Iterator[Served]:
    with served(mixed, workdir) as server:
        yield server


@pytest.fixture
def mixed_client(mixed_server: Served) -> triton.InferenceServerClient:
    return mixed_server.client


def feature_inputs(rows: pd.DataFrame, trained: TrainedModel, binary_data: bool) -> list[triton.InferInput]:
    inputs = []
    for name in trained.columns.numeric:
        values = rows[name].to_numpy(dtype=np.float64)  # NaN: a missing value
        inputs.append(triton.InferInput(name, list(values.shape), "FP64"))
        inputs[-1].set_data_from_numpy(values, binary_data=binary_data)
    for name in trained.columns.categorical:
        # A BYTES tensor has no missing value in tritonclient: these rows have the category.
        values = rows[name].astype(str).to_numpy(dtype=np.object_)
        inputs.append(triton.InferInput(name, list(values.shape), "BYTES"))
        inputs[-1].set_data_from_numpy(values, binary_data=binary_data)
    return inputs


def known_clinic_rows(mixed: TrainedModel, count: int) -> pd.DataFrame:
    frame = mixed.frame.drop(columns="target")
    return frame[frame["clinic"].notna()].iloc[:count]


def test_the_server_and_model_metadata_read_as_tritonclient_expects(mixed_client, mixed) -> None:
    assert "binary_tensor_data" in mixed_client.get_server_metadata()["extensions"]
    metadata = mixed_client.get_model_metadata("mixed")
    assert [tensor["name"] for tensor in metadata["inputs"]] == list(mixed.columns.all)
    assert json.loads(metadata["parameters"]["features"]) == list(mixed.columns.all)
    assert json.loads(metadata["parameters"]["classes"]) == [0, 1]


@pytest.mark.parametrize("binary_data", [True, False], ids=["binary", "json"])
def test_infer_in_binary_and_json_gives_the_pipelines_own_predictions(mixed_client, mixed, binary_data) -> None:
    rows = known_clinic_rows(mixed, 25)
    labels, probabilities = expected_outputs(mixed, rows)
    outputs = [triton.InferRequestedOutput(name, binary_data=binary_data) for name in ("predict", "predict_proba")]
    result = mixed_client.infer("mixed", feature_inputs(rows, mixed, binary_data), outputs=outputs)
    response = result.get_response()
    in_json = {output["name"]: "data" in output for output in response["outputs"]}
    assert in_json == {"predict": not binary_data, "predict_proba": not binary_data}
    assert result.as_numpy("predict").tolist() == labels.tolist()
    # Bit for bit in both forms: JSON floats round-trip exactly, binary ones are the float64 bytes.
    assert result.as_numpy("predict_proba").tolist() == probabilities.tolist()
    assert json.loads(result.get_output("predict_proba")["parameters"]["classes"]) == [0, 1]


def test_the_clients_default_asks_every_output_in_binary(mixed_client, mixed) -> None:
    rows = known_clinic_rows(mixed, 3)
    labels, probabilities = expected_outputs(mixed, rows)
    result = mixed_client.infer("mixed", feature_inputs(rows, mixed, binary_data=True), request_id="default-1")
    response = result.get_response()
    assert response["id"] == "default-1"
    assert all("data" not in output and output["parameters"]["binary_data_size"] > 0 for output in response["outputs"])
    assert result.as_numpy("predict").dtype == np.int64 and result.as_numpy("predict").tolist() == labels.tolist()
    assert result.as_numpy("predict_proba").tolist() == probabilities.tolist()


def test_mixed_binary_and_json_inputs_and_outputs_in_one_request(mixed_client, mixed) -> None:
    rows = known_clinic_rows(mixed, 4)
    labels, probabilities = expected_outputs(mixed, rows)
    inputs = feature_inputs(rows, mixed, binary_data=True)
    inputs[1].set_data_from_numpy(rows[mixed.columns.numeric[1]].to_numpy(dtype=np.float64), binary_data=False)
    outputs = [
        triton.InferRequestedOutput("predict", binary_data=False),
        triton.InferRequestedOutput("predict_proba", binary_data=True),
    ]
    result = mixed_client.infer("mixed", inputs, outputs=outputs)
    assert result.get_output("predict")["data"] == labels.tolist()
    assert result.as_numpy("predict_proba").tolist() == probabilities.tolist()


def test_a_2d_fp32_tensor_and_bytes_labels_in_binary(species, workdir) -> None:
    rows = species.frame.drop(columns="target").iloc[::10]
    values = rows[list(species.columns.all)].to_numpy(dtype=np.float32)
    labels, _ = expected_outputs(species, rows.astype(np.float32).astype(np.float64))
    with served(species, workdir) as (client, _):
        matrix = triton.InferInput("features", list(values.shape), "FP32")
        matrix.set_data_from_numpy(values)
        result = client.infer("species", [matrix], outputs=[triton.InferRequestedOutput("predict")])
        refused = None
        try:
            bad = triton.InferInput("features", [len(values), 3], "FP32")
            bad.set_data_from_numpy(values[:, :3].copy())
            client.infer("species", [bad])
        except triton.InferenceServerException as error:
            refused = error
    assert result.get_output("predict")["datatype"] == "BYTES"
    assert [label.decode() for label in result.as_numpy("predict")] == labels.tolist()
    assert refused is not None and refused.status() == "400" and "shape" in refused.message()


def post(server: Served, body: bytes, headers: dict[str, str]) -> tuple[int, dict, bytes]:
    """A request sent by hand: its status, its response headers and its body."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request("POST", "/v2/models/mixed/infer", body=body, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def binary_body(rows: pd.DataFrame, mixed: TrainedModel, **request: object) -> tuple[bytes, int]:
    inputs, sections = [], []
    for name in mixed.columns.numeric:
        sections.append(rows[name].to_numpy(dtype="<f8").tobytes())
        inputs.append({"name": name, "shape": [len(rows)], "datatype": "FP64"})
    texts = [str(v).encode() for v in rows["clinic"]]
    sections.append(b"".join(struct.pack("<I", len(t)) + t for t in texts))
    inputs.append({"name": "clinic", "shape": [len(rows)], "datatype": "BYTES"})
    for tensor, section in zip(inputs, sections):
        tensor["parameters"] = {"binary_data_size": len(section)}
    header = json.dumps({"inputs": inputs, **request}).encode()
    return header + b"".join(sections), len(header)


def test_a_binary_response_is_framed_by_its_header(mixed_server, mixed) -> None:
    rows = known_clinic_rows(mixed, 3)
    labels, probabilities = expected_outputs(mixed, rows)
    body, length = binary_body(rows, mixed, parameters={"binary_data_output": True})
    status, headers, answer = post(
        mixed_server, body, {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(length)}
    )
    assert status == 200 and headers["Content-Type"] == "application/octet-stream"
    json_length = int(headers["Inference-Header-Content-Length"])
    document = json.loads(answer[:json_length])
    predict, proba = document["outputs"]
    assert predict["parameters"]["binary_data_size"] == 8 * len(rows)
    assert proba["parameters"]["binary_data_size"] == 16 * len(rows)
    rest = answer[json_length:]
    assert len(rest) == 24 * len(rows)
    assert np.frombuffer(rest[: 8 * len(rows)], "<i8").tolist() == labels.tolist()
    assert np.frombuffer(rest[8 * len(rows) :], "<f8").reshape(-1, 2).tolist() == probabilities.tolist()


def test_a_large_binary_body_is_computed_off_the_loop(mixed_server, mixed) -> None:
    rows = mixed.frame.drop(columns="target").fillna({"clinic": "north"}).sample(MAX_ROWS, replace=True, random_state=1)
    labels, _ = expected_outputs(mixed, rows)
    body, length = binary_body(rows, mixed)
    assert len(body) > 64 * 1024  # past the inline limit: parsed and predicted in a worker thread
    status, _, answer = post(mixed_server, body, {"Inference-Header-Content-Length": str(length)})
    assert status == 200 and json.loads(answer)["outputs"][0]["data"] == labels.tolist()


def test_hostile_framing_is_a_4xx_and_the_server_keeps_serving(mixed_server, mixed) -> None:
    rows = known_clinic_rows(mixed, 2)
    body, length = binary_body(rows, mixed)
    too_many = mixed.frame.drop(columns="target").fillna({"clinic": "x"}).sample(MAX_ROWS + 1, replace=True)
    many_body, many_length = binary_body(too_many, mixed)
    cases = [
        (body, {"Inference-Header-Content-Length": str(len(body) + 1)}, 400, "the body has only"),
        (body, {"Inference-Header-Content-Length": "-5"}, 400, "decimal number"),
        (body, {"Inference-Header-Content-Length": str(length - 1)}, 400, "malformed JSON"),
        (body, {"Inference-Header-Content-Length": str(length + 3)}, 400, ""),
        (body[:-1], {"Inference-Header-Content-Length": str(length)}, 400, "are left"),
        (body, {"Content-Type": "application/octet-stream"}, 415, "must be JSON"),
        (many_body, {"Inference-Header-Content-Length": str(many_length)}, 400, f"at most {MAX_ROWS}"),
        (b"\0" * (MAX_REQUEST_BYTES + 1), {"Inference-Header-Content-Length": "2"}, 413, "larger than"),
    ]
    for payload, headers, status, message in cases:
        got, _, answer = post(mixed_server, payload, headers)
        assert got == status and message in json.loads(answer)["error"], (headers, answer[:200])
    assert mixed_server.client.is_model_ready("mixed")
