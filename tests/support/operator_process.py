"""Runs `ballast operator` as a child process for tests, and reads its log afterwards."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

from tests.support.image import ballast_image
from tests.support.kube import open_audit_root_to_every_user
from tests.support.net import free_port

# kopf's "inconsistencies" warning means the API server dropped part of a status patch: a
# field the CRD schema does not have, which would otherwise be lost without a sound.
PROBLEM_LINE = re.compile(r"Traceback \(most recent call last\)| ERROR |Merge-patching finished with inconsistencies")


STORE_MOUNT = "/var/lib/ballast"
# Settings that make the operator quick to react in tests; everything else is the default.
TEST_SETTINGS = {
    "BALLAST_STORE_URI": f"file://{STORE_MOUNT}",
    "BALLAST_STORE_STORAGE_CLASS": "ballast-shared",
    "BALLAST_POLL_INTERVAL_SECONDS": "1",
    "BALLAST_REFRESH_CHECK_SECONDS": "1",
    "BALLAST_VERIFY_INTERVAL_SECONDS": "5",
    "BALLAST_DATASET_WAIT_SECONDS": "90",
    "BALLAST_SUPERSEDED_GRACE_SECONDS": "5",
    # The tests' own servers (Prometheus, data, fake S3) listen on loopback and, for pods, on the
    # pod network's gateway (10.244.0.1) or a pod: allowed explicitly, as an administrator would.
    "BALLAST_EGRESS_ALLOW": "127.0.0.0/8,10.244.0.0/16",
}
LEADING_SAMPLE = "ballast_leader 1.0"


@dataclass(frozen=True)
class ResidentMemory:
    current_bytes: int
    peak_bytes: int
    """The most the process has held resident since it started (the kernel's high-water mark)."""

    def __str__(self) -> str:
        return f"{self.current_bytes / 2**20:.0f} MiB resident, {self.peak_bytes / 2**20:.0f} MiB at its peak"


def with_store_mounted(store_dir: Path, command: list[str]) -> list[str]:
    """The command in a private mount namespace where `store_dir` (the local cluster's shared
    artifact directory) is bound at STORE_MOUNT, the path the store's claim has in every pod:
    so the URIs the pods recorded name files it can read (and `ballast gc` delete)."""
    store_dir.mkdir(parents=True, exist_ok=True)
    open_audit_root_to_every_user(store_dir)
    bind = f'mkdir -p {STORE_MOUNT} && mount --bind "$0" {STORE_MOUNT} && exec "$@"'
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", bind, str(store_dir), *command]


class OperatorProcess:
    """The operator on the host, seeing the local cluster's shared artifact directory at the
    same path as the pods it starts (a private mount namespace binds it there), as it would
    when it runs in the cluster with the store's claim mounted."""

    def __init__(
        self,
        kubeconfig: Path,
        log: Path,
        store_dir: Path | None = None,
        env: dict | None = None,
        namespaces: tuple[str, ...] = (),
        lease: str | None = None,
    ):
        self.kubeconfig = kubeconfig
        # the leader Lease, in namespace default: a Lease of its own unless replicas share one
        self.lease = lease or f"ballast-test-{uuid.uuid4().hex[:8]}"
        self.namespaces = namespaces
        self.log = log
        self.store_dir = store_dir
        self.extra_env = env or {}
        self.health_port = free_port()
        self.metrics_port = free_port()
        self._process: subprocess.Popen | None = None

    def command(self) -> list[str]:
        ballast = str(Path(sys.executable).parent / "ballast")
        command = [
            ballast,
            "operator",
            "--bind-address",
            "127.0.0.1",
            "--health-port",
            str(self.health_port),
            "--metrics-port",
            str(self.metrics_port),
        ]
        for namespace in self.namespaces:
            command += ["--namespace", namespace]
        return command if self.store_dir is None else with_store_mounted(self.store_dir, command)

    def environment(self) -> dict[str, str]:
        """The tests' settings, the pods' image (Ballast's, by digest) and the cluster."""
        return {
            **os.environ,
            **TEST_SETTINGS,
            "BALLAST_IMAGE": ballast_image(),
            "BALLAST_LEADER_ELECTION_NAMESPACE": "default",
            "BALLAST_LEADER_ELECTION_LEASE": self.lease,
            **self.extra_env,
            "KUBECONFIG": str(self.kubeconfig),
        }

    def start(self) -> None:
        self._log_file = self.log.open("a")
        self._process = subprocess.Popen(
            self.command(), env=self.environment(), stdout=self._log_file, stderr=subprocess.STDOUT
        )
        self._wait_until_healthy(timeout=30)

    @property
    def pid(self) -> int:
        return self._process.pid

    def kill(self) -> None:
        """SIGKILL: no chance to clean up, as when a node dies under it."""
        self._process.kill()
        self._process.wait()
        self._log_file.close()

    def __enter__(self) -> OperatorProcess:
        self.start()
        return self

    health_poll_seconds = 0.2

    def _exit_at_start(self) -> str | None:
        """Why the operator is gone before it became healthy, or None while it runs."""
        if self._process.poll() is None:
            return None
        return f"operator exited with {self._process.returncode}:\n{self.log.read_text()}"

    def _wait_until_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            exited = self._exit_at_start()
            if exited:
                raise RuntimeError(exited)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/healthz", timeout=1):
                    return
            except OSError:
                time.sleep(self.health_poll_seconds)
        raise RuntimeError(f"operator not healthy after {timeout}s:\n{self.log.read_text()[-3000:]}")

    def exited(self) -> int | None:
        """The exit code once the operator is gone, else None."""
        return None if self._process is None else self._process.poll()

    def leading(self) -> bool:
        """Whether it holds its Lease and runs its handlers (a standby answers /healthz too)."""
        try:
            return LEADING_SAMPLE in self.metrics().splitlines()
        except OSError:
            return False

    def wait_until_leading(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not self.leading():
            if self.exited() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"operator not leading within {timeout} s: {self.state()}")
            time.sleep(self.health_poll_seconds)

    def state(self, lines: int = 80) -> str:
        """For a failure message: alive or its exit code, and the end of its log."""
        code = self.exited()
        status = "running" if code is None else f"exited with {code}"
        tail = self.log.read_text(errors="replace").splitlines()[-lines:] if self.log.exists() else []
        return f"operator {status}; its log ends:\n" + "\n".join(tail)

    def resident_memory(self) -> ResidentMemory:
        """VmRSS and VmHWM of the operator's process (unshare and sh exec it: same pid)."""
        fields = dict(line.split(":", 1) for line in Path(f"/proc/{self._process.pid}/status").read_text().splitlines())
        kib = {name: int(fields[name].split()[0]) for name in ("VmRSS", "VmHWM")}
        return ResidentMemory(current_bytes=kib["VmRSS"] << 10, peak_bytes=kib["VmHWM"] << 10)

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as response:
            return response.read().decode()

    def __exit__(self, *_exc) -> None:
        if self._process.poll() is not None:
            return
        self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._log_file.close()

    def log_problems(self) -> list[str]:
        return [line for line in self.log.read_text().splitlines() if PROBLEM_LINE.search(line)]
