"""Background processes that outlive the script starting them, found again through pidfiles.

`up` runs in short-lived processes (a CLI call, a test session), so nothing stays around to
wait on the daemons: each one's pidfile, checked against its command line so that a recycled
pid never passes for it, is how a later `up` knows whether to start it again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (our own child that nobody reaped) is as good as gone
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def write_config(path: Path, text: str) -> bool:
    """Replaces the file whole (a daemon watching it never reads half of it) when its content
    differs; says whether it did, so that the daemon reading it can be restarted."""
    if path.exists() and path.read_text() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.tmp")
    staging.write_text(text)
    os.replace(staging, path)
    return True


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@dataclass
class Daemon:
    name: str
    argv: list[str]
    pidfile: Path
    log: Path
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    stop_seconds: float = 30

    def pid(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            return None
        return pid if cmdline[: len(self.argv)] == [arg.encode() for arg in self.argv] and alive(pid) else None

    def ensure(self) -> int:
        """The running daemon's pid; starts it when it is not running."""
        return self.pid() or self._start()

    def _start(self) -> int:
        self.pidfile.parent.mkdir(parents=True, exist_ok=True)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            process = subprocess.Popen(
                self.argv,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pidfile.write_text(f"{process.pid}\n")
        return process.pid

    def stop(self) -> None:
        pid = self.pid()
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + self.stop_seconds
            while alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        self.pidfile.unlink(missing_ok=True)

    def check_alive(self, pid: int) -> None:
        if not alive(pid):
            raise RuntimeError(f"{self.name} exited; see {self.log}:\n{tail(self.log)}")


def wait_until_answering(daemon: Daemon, pid: int, url: str, timeout: float = 30) -> None:
    """Until an HTTP GET of url succeeds (a 2xx), while the daemon lives: how `up` knows a server
    it just started is serving."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            daemon.check_alive(pid)
            if time.monotonic() > deadline:
                raise TimeoutError(f"{daemon.name} not answering {url} after {timeout}s; see {daemon.log}") from None
            time.sleep(0.1)
