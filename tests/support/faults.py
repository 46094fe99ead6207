"""Fault injection on the local cluster: an operator that can be SIGKILLed and restarted in
a fraction of a second, a restart of kube-apiserver and etcd, and an artifact store that is
full or read-only.

Every fault here is real: a signal to a real process, a real mount. Nothing is mocked.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tests.support.kube import REPO, Kubectl, wait_for
from tests.support.operator_process import OperatorProcess

FORK_SERVER = Path(__file__).with_name("operator_fork_server.py")


class ForkedOperator(OperatorProcess):
    """The operator as OperatorProcess runs it (same command line, settings, store mount),
    but each start() forks it from a server that has imported Ballast already (see
    operator_fork_server.py), so a restart is healthy in about a tenth of a second instead of
    two seconds of imports. kill() is SIGKILL to the operator process itself."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._server: subprocess.Popen | None = None
        self._forked: int | None = None
        self.restart_seconds: list[float] = []
        """Time from each start() to a healthy operator."""

    def command(self) -> list[str]:
        command = super().command()
        ballast = command.index(str(Path(sys.executable).parent / "ballast"))
        return [*command[:ballast], sys.executable, str(FORK_SERVER), str(self.log), "--", *command[ballast + 1 :]]

    def _ask(self, line: str) -> str:
        self._server.stdin.write(line + "\n")
        self._server.stdin.flush()
        answer = self._server.stdout.readline().strip()
        if not answer:
            raise RuntimeError(f"the fork server exited ({self._server.poll()}):\n{self.log.read_text()[-3000:]}")
        return answer

    def start(self) -> None:
        began = time.monotonic()
        if self._server is None:
            self._server_log = self.log.open("a")
            self._server = subprocess.Popen(
                self.command(),
                env=self.environment(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._server_log,
                text=True,
            )
        self._forked = int(self._ask("start"))
        self._wait_until_healthy(timeout=30)
        self.restart_seconds.append(time.monotonic() - began)

    @property
    def pid(self) -> int | None:  # type: ignore[override]  # None between a kill and the next start
        """The forked operator's pid (OperatorProcess's is its own child's)."""
        return self._forked

    health_poll_seconds = 0.02  # ten times as often as OperatorProcess: a forked start is that quick

    def _exit_at_start(self) -> str | None:
        if self._server.poll() is None and not _exited(self.pid):
            return None
        return f"the operator exited at start:\n{self.log.read_text()[-3000:]}"

    def kill(self) -> None:
        os.kill(self.pid, signal.SIGKILL)
        self._ask(f"reap {self.pid}")
        self._forked = None

    def __exit__(self, *_exc) -> None:
        if self.pid is not None:
            os.kill(self.pid, signal.SIGTERM)
            self._ask(f"reap {self.pid}")
            self._forked = None
        if self._server is not None:
            self._server.stdin.close()
            self._server.wait(timeout=30)
            self._server_log.close()


# --- the control plane ---------------------------------------------------------------------


def _localcluster():
    cluster_dir = str(REPO / "tests" / "cluster")
    if cluster_dir not in sys.path:
        sys.path.insert(0, cluster_dir)
    import localcluster

    return localcluster


# kwokctl's own stop order: the API server before its storage
CONTROL_PLANE = ("kube-apiserver", "etcd")
# These give up (exit) when they cannot renew their leader lease for ten seconds.
LEADER_ELECTED = ("kube-controller-manager", "kube-scheduler")


@dataclass(frozen=True)
class ControlPlaneRestart:
    components: tuple[str, ...]
    unavailable_seconds: float
    """From the kill until the API server answered /readyz again."""
    restarted_again: tuple[str, ...]
    """Leader-elected components that lost their lease in the outage and had to be started."""


def _pids_dir() -> Path:
    localcluster = _localcluster()
    return localcluster._kwok_workdir() / "clusters" / localcluster.CLUSTER_NAME / "pids"


def _component_pid(name: str) -> int | None:
    try:
        return int((_pids_dir() / f"{name}.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def _exited(pid: int) -> bool:
    """Exited and its files closed. A killed multi-threaded process shows its leader as a zombie
    while other threads are still exiting and holding its sockets; only a zombie whose last
    thread is gone has let go of its ports (its parent, init here, reaps it in its own time)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        threads = os.listdir(f"/proc/{pid}/task")
    except (OSError, IndexError):
        return True
    return state == "Z" and threads == [str(pid)]


def _kill_component(name: str) -> None:
    """SIGKILL, as `kwokctl stop cluster` does, then the pid file goes: kwokctl starts again
    only components whose pid file names no live process."""
    pid = _component_pid(name)
    if pid is None or _exited(pid):
        raise RuntimeError(f"{name} is not running (pid file {_pids_dir() / (name + '.pid')})")
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: _exited(pid), timeout=30, interval=0.05, message=f"{name} (pid {pid}) to exit")
    (_pids_dir() / f"{name}.pid").unlink(missing_ok=True)


def _start_missing_components() -> None:
    """`kwokctl start cluster` starts exactly the components that are not running (a pid file
    naming a dead process counts as not running); it returns once /version answers."""
    localcluster = _localcluster()
    localcluster._kwokctl(localcluster.build_binaries(), "start", "cluster", "--name", localcluster.CLUSTER_NAME)


def _api_ready(kubectl: Kubectl) -> bool:
    try:
        return kubectl.run("get", "--raw", "/readyz", "--request-timeout=2s", check=False, timeout=5).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def _bring_back_control_plane(kubectl: Kubectl, attempts: int = 5) -> None:
    """Start whatever is not running until the API server is ready. A component that dies at
    start (say, its port was not free yet) is started again: the cluster is shared, and it
    must never be left down."""
    for attempt in range(1, attempts + 1):
        for pid_file in _pids_dir().glob("*.pid"):
            pid = _component_pid(pid_file.stem)
            if pid is None or _exited(pid):  # kwokctl would take a zombie for a running process
                pid_file.unlink(missing_ok=True)
        _start_missing_components()
        try:
            wait_for(lambda: _api_ready(kubectl), timeout=30, interval=0.1, message="kube-apiserver /readyz")
            return
        except AssertionError:
            if attempt == attempts:
                raise


def _lease_renewed_since(kubectl: Kubectl, name: str, moment: datetime) -> bool:
    lease = json.loads(kubectl.run("get", "lease", name, "-n", "kube-system", "-o", "json").stdout)
    renewed = lease["spec"].get("renewTime")
    return bool(renewed) and datetime.fromisoformat(renewed.replace("Z", "+00:00")) > moment


def restart_control_plane(kubectl: Kubectl, components: tuple[str, ...] = CONTROL_PLANE) -> ControlPlaneRestart:
    """SIGKILL kube-apiserver and etcd, start them again at once, and return when the API server
    is ready and the controller manager and scheduler lead again (restarting either if the
    outage outlasted its lease).

    The whole cluster notices: other sessions' operators and watches reconnect too.
    """
    killed_at_wall = datetime.now(UTC)
    killed_at = time.monotonic()
    try:
        for name in components:
            _kill_component(name)
    finally:
        _bring_back_control_plane(kubectl)
    unavailable = time.monotonic() - killed_at

    restarted = []
    for name in LEADER_ELECTED:

        def leading_or_dead() -> bool:
            pid = _component_pid(name)
            return pid is None or _exited(pid) or _lease_renewed_since(kubectl, name, killed_at_wall)

        wait_for(leading_or_dead, timeout=60, interval=0.5, message=f"{name} to renew its lease")
        pid = _component_pid(name)
        if pid is None or _exited(pid):
            restarted.append(name)
    if restarted:
        _bring_back_control_plane(kubectl)
        for name in restarted:
            wait_for(
                lambda: _lease_renewed_since(kubectl, name, killed_at_wall),
                timeout=90,
                interval=0.5,
                message=f"the restarted {name} to take its lease",
            )
    return ControlPlaneRestart(tuple(components), unavailable, tuple(restarted))


def restart_node() -> float:
    """`localcluster.py restart-node`: the kubelet and containerd stop and start again, as on a
    node whose runtime is upgraded; returns how long until the node was Ready again."""
    began = time.monotonic()
    subprocess.run(
        [sys.executable, str(REPO / "tests" / "cluster" / "localcluster.py"), "restart-node"],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return time.monotonic() - began


# --- the artifact store -----------------------------------------------------------------------


def _mount(*args: str) -> None:
    result = subprocess.run(["mount", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"mount {' '.join(args)} failed: {result.stderr.strip()}")


def _unmount(directory: Path) -> None:
    subprocess.run(["umount", "--lazy", str(directory)], capture_output=True, check=False)


@contextmanager
def small_store(directory: Path, size: str) -> Iterator[Path]:
    """A store directory that is a tmpfs of `size` bytes (e.g. "4m"): writes past it fail
    with ENOSPC, for root as for anyone."""
    directory.mkdir(parents=True, exist_ok=True)
    _mount("-t", "tmpfs", "-o", f"size={size},mode=0777", "tmpfs", str(directory))
    try:
        yield directory
    finally:
        _unmount(directory)


def store_directory(store: Path, namespace: str) -> Path:
    """A namespace's directory in a store, writable by the pods' user as the kubelet would make it."""
    directory = store / namespace
    directory.mkdir(exist_ok=True)
    directory.chmod(0o777)
    return directory


def fill_up(directory: Path) -> int:
    """Write a filler file until the filesystem under `directory` has no block left; returns
    the bytes written."""
    written = 0
    chunk = b"\0" * 4096
    with open(directory / "filler", "wb", buffering=0) as filler:
        while True:
            try:
                written += filler.write(chunk)
            except OSError as error:
                if error.errno != errno.ENOSPC:
                    raise
                return written


@contextmanager
def read_only_store(directory: Path, namespaces: tuple[str, ...] = ()) -> Iterator[Path]:
    """The directory bound onto itself read-only: root gets EROFS too, and pods that bind it
    into their sandbox inherit the read-only flag. The `namespaces`' directories are made
    first, as a store used before it turned read-only has them (pods mount only their
    namespace's directory, and the kubelet cannot make it on a read-only store)."""
    directory.mkdir(parents=True, exist_ok=True)
    for namespace in namespaces:
        store_directory(directory, namespace)
    _mount("--bind", str(directory), str(directory))
    try:
        _mount("-o", "remount,bind,ro", str(directory))
        yield directory
    finally:
        _unmount(directory)


def static_store_claim(namespace: str, directory: Path, claim: str = "ballast-artifacts") -> list[dict]:
    """A PersistentVolume on `directory` bound in advance to the claim Ballast's pods mount,
    so the pods of this namespace use this directory as their artifact store (the operator
    finds the claim and leaves it alone; the node's provisioner skips bound claims)."""
    volume = f"{namespace}-store"
    return [
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": volume},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteMany"],
                "storageClassName": "",
                "persistentVolumeReclaimPolicy": "Retain",
                "hostPath": {"path": str(directory), "type": "Directory"},
                "claimRef": {
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "namespace": namespace,
                    "name": claim,
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": claim, "namespace": namespace},
            "spec": {
                "accessModes": ["ReadWriteMany"],
                "storageClassName": "",
                "volumeName": volume,
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
    ]
