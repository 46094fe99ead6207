"""Runs `ballast operator` as a child process for tests, and reads its log afterwards."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

PROBLEM_LINE = re.compile(r"Traceback \(most recent call last\)| ERROR ")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class OperatorProcess:
    def __init__(self, kubeconfig: Path, log: Path):
        self.kubeconfig = kubeconfig
        self.log = log
        self.health_port = free_port()
        self.metrics_port = free_port()
        self._process: subprocess.Popen | None = None

    def __enter__(self) -> "OperatorProcess":
        ballast = str(Path(sys.executable).parent / "ballast")
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        self._log_file = self.log.open("w")
        self._process = subprocess.Popen(
            [ballast, "operator", "--bind-address", "127.0.0.1",
             "--health-port", str(self.health_port), "--metrics-port", str(self.metrics_port)],
            env=env, stdout=self._log_file, stderr=subprocess.STDOUT,
        )
        self._wait_until_healthy(timeout=30)
        return self

    def _wait_until_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"operator exited with {self._process.returncode}:\n{self.log.read_text()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/healthz", timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"operator not healthy after {timeout}s:\n{self.log.read_text()}")

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as response:
            return response.read().decode()

    def __exit__(self, *_exc) -> None:
        self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._log_file.close()

    def log_problems(self) -> list[str]:
        return [line for line in self.log.read_text().splitlines() if PROBLEM_LINE.search(line)]
