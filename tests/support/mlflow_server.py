"""A real MLflow tracking server for tests: the full `mlflow` package in a virtualenv of its own
(~/.cache/ballast/venvs/mlflow-<version>, created on first use by benchmarks/peer_venvs.py, never
Ballast's), with a local sqlite backend store and a local artifact root it serves itself
(--serve-artifacts), on the address given. Nothing is skipped: if it cannot be installed or
started, the test fails and says why."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from benchmarks.peer_venvs import peer_python

from tests.support.net import wait_until_answering

MLFLOW_VERSION = "3.17.2"
"""The server the tests log to. 3.18.0, the client's release (operator/constraints.txt), needs an
mlflow-tracing 3.18.0 that the index does not serve; the REST API is the same, and a server a
release behind its clients is what teams often run."""
START_SECONDS = 120


@dataclass(frozen=True)
class MlflowServer:
    uri: str
    log_path: Path


def mlflow_python() -> Path:
    try:
        return peer_python("mlflow", MLFLOW_VERSION, (f"mlflow=={MLFLOW_VERSION}",))
    except subprocess.CalledProcessError as error:
        pytest.fail(f"could not install mlflow=={MLFLOW_VERSION} into its virtualenv: {error}", pytrace=False)


@contextmanager
def running_mlflow_server(workdir: Path, host: str, port: int) -> Iterator[MlflowServer]:
    python = mlflow_python()
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / "mlflow-server.log"
    command = [
        str(python),
        "-m",
        "mlflow",
        "server",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        "1",
        "--backend-store-uri",
        f"sqlite:///{workdir / 'mlflow.db'}",
        "--artifacts-destination",
        str(workdir / "artifacts"),
        "--serve-artifacts",
    ]
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    with open(log_path, "ab") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    uri = f"http://{host}:{port}"
    try:
        wait_until_answering(process, f"{uri}/health", log_path, "the MLflow server", START_SECONDS)
        yield MlflowServer(uri=uri, log_path=log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
