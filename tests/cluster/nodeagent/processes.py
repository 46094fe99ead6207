"""Starting, signalling and reaping container processes, and making sure none survive.

Each container run gets its own cgroup-v2 directory when the unified hierarchy is writable:
everything the container forks stays in it, however it daemonizes, and `cgroup.kill` ends them
all at once. Without cgroup v2 the container's process group stands in (start_new_session).
"""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import subprocess
import time
from pathlib import Path

log = logging.getLogger(__name__)

CGROUP_DIR_NAME = "ballast-nodeagent"


def tracker_scope(node_name: str, state_dir: Path) -> str:
    """Names this agent's cgroup directory: two local clusters (two cache dirs) on one machine
    must never kill each other's pods as leftovers."""
    digest = hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:8]
    return f"{node_name}-{digest}"


def find_cgroup2_mount() -> Path | None:
    try:
        with open("/proc/self/mounts") as mounts:
            for line in mounts:
                _device, mount_point, fs_type, *_ = line.split()
                if fs_type == "cgroup2":
                    return Path(mount_point)
    except OSError:
        pass
    return None


def exit_code_of(returncode: int) -> int:
    """Popen reports death by signal N as -N; container runtimes report 128+N (137 for KILL)."""
    return 128 - returncode if returncode < 0 else returncode


class ProcessTracker:
    def __init__(self, scope: str):
        mount = find_cgroup2_mount()
        self.root: Path | None = None
        if mount is not None:
            candidate = mount / CGROUP_DIR_NAME / scope
            try:
                candidate.mkdir(parents=True, exist_ok=True)
                self.root = candidate
            except OSError as error:
                log.warning("cgroup v2 at %s is not writable (%s); tracking process groups only", mount, error)

    def new_cgroup(self, name: str) -> Path | None:
        if self.root is None:
            return None
        path = self.root / name
        if path.exists():
            self.kill_cgroup(path)
        path.mkdir(parents=True, exist_ok=True)
        return path

    @staticmethod
    def pids(cgroup: Path | None) -> list[int]:
        if cgroup is None:
            return []
        try:
            return [int(p) for p in (cgroup / "cgroup.procs").read_text().split()]
        except OSError:
            return []

    def kill_cgroup(self, cgroup: Path) -> None:
        """SIGKILL everything in the cgroup and remove it."""
        try:
            (cgroup / "cgroup.kill").write_text("1")
        except OSError:
            for pid in self.pids(cgroup):
                _signal(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while self.pids(cgroup) and time.monotonic() < deadline:
            time.sleep(0.05)
        try:
            cgroup.rmdir()
        except OSError:
            pass

    def kill_leftovers(self) -> int:
        """Kills what a previous agent on this node left running (it crashed or was SIGKILLed)."""
        if self.root is None:
            return 0
        killed = 0
        for cgroup in sorted(self.root.iterdir(), reverse=True):
            if cgroup.is_dir():
                killed += len(self.pids(cgroup))
                self.kill_cgroup(cgroup)
        return killed

    def remove(self) -> None:
        """Kills any leftovers and removes this agent's cgroup directory (the cluster is going away)."""
        self.kill_leftovers()
        if self.root is not None:
            try:
                self.root.rmdir()
            except OSError:
                pass


class ContainerProcess:
    """One run of one container."""

    def __init__(self, argv: list[str], env: dict[str, str], log_path: Path, cgroup: Path | None,
                 tracker: ProcessTracker):
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._tracker = tracker
        self.cgroup = cgroup
        with open(log_path, "ab", buffering=0) as output:
            self._popen = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=output,
                                           stderr=subprocess.STDOUT, start_new_session=True, cwd="/")
        self.pid = self._popen.pid
        self.exit_code: int | None = None

    def poll(self) -> int | None:
        if self.exit_code is None:
            returncode = self._popen.poll()
            if returncode is not None:
                self.exit_code = exit_code_of(returncode)
                # When a container's main process ends, the runtime's pid namespace takes the
                # rest of the container with it; the cgroup does that here.
                self._kill_rest()
        return self.exit_code

    def signal_all(self, sig: int) -> None:
        for pid in set(self._tracker.pids(self.cgroup)) | {self.pid}:
            _signal(pid, sig)
        try:
            os.killpg(self.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self, grace_seconds: float) -> int:
        """SIGTERM, up to `grace_seconds` to exit, then SIGKILL; returns the exit code."""
        if self.poll() is None:
            self.signal_all(signal.SIGTERM)
            deadline = time.monotonic() + max(grace_seconds, 0)
            while self.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
        if self.poll() is None:
            self.signal_all(signal.SIGKILL)
            self._popen.wait()
            self.poll()
        self._kill_rest()
        return self.exit_code

    def _kill_rest(self) -> None:
        if self.cgroup is not None:
            self._tracker.kill_cgroup(self.cgroup)
        else:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
