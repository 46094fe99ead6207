"""`ballast serve` as a process: refusing an artifact before listening, and stopping gracefully."""

from __future__ import annotations

import http.client
import json
import os
import pickle
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ballast.models.digest import sha256_hex
from tests.support.net import free_port
from tests.unit.test_serving_harness import FEEDBACK_TOKEN, TrainedModel, iris_frame, trained_model

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def iris(tmp_path_factory) -> TrainedModel:
    return trained_model(
        tmp_path_factory.mktemp("process"), "iris", iris_frame(), "sklearn.linear_model.LogisticRegression"
    )


def serve_command(
    trained: TrainedModel,
    termination_log: Path,
    port: int,
    *extra: str,
    artifact_uri: str | None = None,
    sha256: str | None = None,
    grpc_port: int = -1,
) -> list[str]:
    """The command line of a server that takes feedback with the harness's FEEDBACK_TOKEN (a
    file beside the termination log); without `grpc_port`, REST only, so servers started at
    once do not contend for the gRPC API's default port."""
    token_file = termination_log.parent / f"{termination_log.name}.feedback-token"
    token_file.write_text(FEEDBACK_TOKEN + "\n")
    return [
        sys.executable,
        "-m",
        "ballast.runtime.serve",
        "--store",
        trained.store.uri,
        "--artifact-uri",
        artifact_uri or trained.artifact_uri,
        "--artifact-sha256",
        sha256 or trained.sha256,
        "--bind-address",
        "127.0.0.1",
        "--port",
        str(port),
        "--grpc-port",
        str(grpc_port),
        "--termination-log",
        str(termination_log),
        "--feedback-token-file",
        str(token_file),
        *extra,
    ]


def wait_until_ready(
    process: subprocess.Popen, termination_log: Path, is_ready: Callable[[], bool], seconds: float = 60
) -> None:
    """Until `is_ready()` (a client's probe; an exception means not listening yet) says so; fails
    with the termination message if the server exits first."""
    deadline = time.monotonic() + seconds
    while True:
        assert process.poll() is None, termination_log.read_text() if termination_log.exists() else "it exited"
        try:
            if is_ready():
                return
        except Exception:  # noqa: BLE001 - not listening yet
            pass
        assert time.monotonic() < deadline, "the server did not become ready"
        time.sleep(0.1)


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return False
    except OSError:
        return True


def run_refused(trained: TrainedModel, tmp_path: Path, **artifact) -> tuple[int, dict, str, int]:
    port, log = free_port(), tmp_path / "termination-log"
    result = subprocess.run(
        serve_command(trained, log, port, **artifact), capture_output=True, text=True, timeout=60, cwd=REPO
    )
    return result.returncode, json.loads(log.read_text()), result.stderr, port


def test_a_digest_mismatch_exits_before_listening(iris, tmp_path) -> None:
    code, message, stderr, port = run_refused(iris, tmp_path, sha256="0" * 64)
    assert code == 2
    assert message["reason"] == "DigestMismatch" and iris.sha256 in message["message"]
    assert "ready" not in stderr and refused(port)


def test_a_pickle_is_refused_and_never_unpickled(iris, tmp_path) -> None:
    marker = tmp_path / "unpickled"
    payload = pickle.dumps(Explode(str(marker)))
    uri = iris.store.write_bytes_once("models/iris/pickled/model.pkl", payload)
    code, message, stderr, port = run_refused(iris, tmp_path, artifact_uri=uri, sha256=sha256_hex(payload))
    assert code == 2 and message["reason"] == "UntrustedArtifact"
    assert "pickle" in message["message"] and not marker.exists()
    assert refused(port)


def test_a_missing_artifact_is_reported(iris, tmp_path) -> None:
    code, message, _, port = run_refused(iris, tmp_path, artifact_uri=iris.store.uri + "/models/iris/none/model.skops")
    assert code == 2 and message["reason"] == "ArtifactMissing" and refused(port)


class Explode:
    """Unpickling this would create a file: the test proves the server never does."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _wait_ready(process: subprocess.Popen, port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read()
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", "/v2/health/ready")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("the server did not become ready")


def _status(port: int, method: str, path: str, body: bytes | None = None) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.request(method, path, body=body)
    status = connection.getresponse().status
    connection.close()
    return status


def test_sigterm_drops_readiness_first_finishes_in_flight_requests_then_exits(iris, tmp_path) -> None:
    port = free_port()
    process = subprocess.Popen(
        serve_command(iris, tmp_path / "log", port, "--drain-seconds", "1.0"),
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ},
    )
    try:
        _wait_ready(process, port)
        body = json.dumps(
            {"inputs": [{"name": "m", "shape": [1, 4], "datatype": "FP64", "data": [[5.1, 3.5, 1.4, 0.2]]}]}
        ).encode()
        # A request in flight: headers and half of the body sent before SIGTERM.
        in_flight = socket.create_connection(("127.0.0.1", port))
        in_flight.sendall(
            b"POST /v2/models/iris/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body) + body[:20]
        )
        time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        assert _status(port, "GET", "/v2/health/ready") == 503  # readiness drops first...
        assert _status(port, "GET", "/v2/health/live") == 200
        assert _status(port, "POST", "/v2/models/iris/infer", body) == 200  # ...while it still answers
        time.sleep(1.2)  # past the drain: no longer listening
        assert refused(port)
        in_flight.sendall(body[20:])
        answer = in_flight.recv(65536).decode()
        assert answer.startswith("HTTP/1.1 200"), answer
        assert json.loads(answer.split("\r\n\r\n", 1)[1])["outputs"][0]["data"] == [0]
        assert process.wait(10) == 0
        stderr = process.stderr.read()
        assert re.search(r"stopping: not ready", stderr) and "stopped" in stderr
    finally:
        if process.poll() is None:
            process.kill()
