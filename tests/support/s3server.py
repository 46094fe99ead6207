"""A real S3-compatible server for tests: VersityGW over a local directory.

tests/s3/build.sh builds it from the Go module proxy and caches it; this starts it on the
address given (127.0.0.1 for the test process, the cluster's pod gateway for pods) with real
HTTP and SigV4. Nothing is skipped: if it cannot be built or started, the test fails and says why.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.kube import REPO
from tests.support.net import free_port

ACCESS_KEY = "ballast-test"
SECRET_KEY = "ballast-test-secret-key"
BUILD_SCRIPT = REPO / "tests" / "s3" / "build.sh"


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    data_dir: Path
    """The directory behind the gateway: bucket/key is a file here."""

    def environ(self, prefix: str = "", secret: str = SECRET_KEY) -> dict[str, str]:
        return {
            f"{prefix}AWS_ACCESS_KEY_ID": ACCESS_KEY,
            f"{prefix}AWS_SECRET_ACCESS_KEY": secret,
            f"{prefix}AWS_ENDPOINT_URL": self.endpoint,
            f"{prefix}AWS_REGION": "us-east-1",
        }

    def new_bucket(self) -> str:
        # The posix backend treats each top-level directory as a bucket.
        name = f"b-{uuid.uuid4().hex[:12]}"
        (self.data_dir / name).mkdir()
        return name


def build_server() -> Path:
    completed = subprocess.run(["bash", str(BUILD_SCRIPT)], capture_output=True, text=True, timeout=1200)
    if completed.returncode != 0:
        pytest.fail(
            f"could not build the S3 server with {BUILD_SCRIPT} (needs Go and the Go module proxy):\n"
            f"{completed.stderr[-3000:]}",
            pytrace=False,
        )
    return Path(completed.stdout.strip().splitlines()[-1])


@contextmanager
def running_s3_server(workdir: Path, host: str) -> Iterator[S3Server]:
    binary = build_server()
    data_dir = workdir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / "versitygw.log"
    port = free_port(host)
    env = {**os.environ, "ROOT_ACCESS_KEY": ACCESS_KEY, "ROOT_SECRET_KEY": SECRET_KEY}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(binary), "--port", f"{host}:{port}", "--quiet", "posix", str(data_dir)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_listening(process, host, port, log_path)
        yield S3Server(endpoint=f"http://{host}:{port}", data_dir=data_dir)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_listening(process: subprocess.Popen, host: str, port: int, log_path: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            pytest.fail(
                f"the S3 server exited with {process.returncode}:\n{log_path.read_text()[-3000:]}", pytrace=False
            )
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail(
                    f"the S3 server did not listen on {host}:{port} within 30 s:\n{log_path.read_text()[-3000:]}",
                    pytrace=False,
                )
            time.sleep(0.1)
