"""Free ports on this machine, and waiting for the servers tests start there."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def wait_until_answering(process: subprocess.Popen, url: str, log_path: Path, what: str, timeout: float) -> None:
    """Until GET url answers 200; fails the test, with the server's log, if the process exits
    first or the time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            pytest.fail(f"{what} exited with {process.returncode}:\n{log_path.read_text()[-3000:]}", pytrace=False)
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:  # URLError is one
            pass
        if time.monotonic() > deadline:
            pytest.fail(
                f"{what} did not answer {url} within {timeout:g} s:\n{log_path.read_text()[-3000:]}", pytrace=False
            )
        time.sleep(0.2)
