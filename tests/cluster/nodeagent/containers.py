"""One container's life across restarts: its API-shaped state, restart count, back-off, and the
probes watching its current run. The decisions (restart or not, how long to wait, what
message to report) are small pure functions below."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from .podstatus import is_sidecar
from .probes import ProbeRunner
from .processes import ContainerProcess

# kubelet: MaxContainerTerminationMessageLength, ...LogLines and ...LogLength
MAX_TERMINATION_MESSAGE_BYTES = 4096
FALLBACK_LOG_LINES = 80
FALLBACK_LOG_BYTES = 2048
# kubelet forgets a container's back-off once it has run cleanly for twice the maximum delay
BACKOFF_RESET_FACTOR = 2


def should_restart(container: dict, *, init: bool, pod_restart_policy: str, exit_code: int) -> bool:
    if init and is_sidecar(container):
        return True
    policy = container.get("restartPolicy") or pod_restart_policy
    if init:  # a failed init container is retried unless the pod never restarts anything
        return exit_code != 0 and pod_restart_policy != "Never"
    return policy == "Always" or (policy == "OnFailure" and exit_code != 0)


def restart_delay(restarts_so_far: int, base: float, maximum: float) -> float:
    """0 for the first restart, then base, 2*base, 4*base ... capped at maximum."""
    if restarts_so_far <= 0:
        return 0.0
    return min(base * (2 ** (restarts_so_far - 1)), maximum)


def termination_message(container: dict, exit_code: int, message_file: Path, log_file: Path) -> str:
    try:
        message = message_file.read_bytes()[:MAX_TERMINATION_MESSAGE_BYTES]
    except OSError:
        message = b""
    if not message and exit_code != 0 and container.get("terminationMessagePolicy") == "FallbackToLogsOnError":
        try:
            lines = log_file.read_bytes().splitlines(keepends=True)[-FALLBACK_LOG_LINES:]
            message = b"".join(lines)[-FALLBACK_LOG_BYTES:]
        except OSError:
            message = b""
    return message.decode(errors="replace")


@dataclasses.dataclass
class ContainerRecord:
    spec: dict
    init: bool
    state: dict
    last_state: dict = dataclasses.field(default_factory=dict)
    restart_count: int = 0
    backoff_restarts: int = 0  # restarts since the back-off was last reset
    attempt: int = 0
    process: ContainerProcess | None = None
    probes: dict[str, ProbeRunner] = dataclasses.field(default_factory=dict)
    started: bool = False
    succeeded: bool = False  # init containers: finished with exit code 0
    finished: bool = False  # will not run again (terminated and not restarting)
    next_start: float = 0.0  # monotonic time before which a restart must wait
    run_started: float = 0.0  # monotonic
    started_at: str = ""
    container_id: str = ""
    last_reported: tuple[str, str] | None = None  # (reason, message) of the last warning event

    @property
    def name(self) -> str:
        return self.spec["name"]

    @property
    def running(self) -> bool:
        return self.process is not None

    @property
    def ready(self) -> bool:
        if not self.running or not self.started:
            return False
        readiness = self.probes.get("readiness")
        return readiness.succeeded if readiness else True

    def failed_probe(self) -> str | None:
        """'liveness' or 'startup' once that probe has failed failureThreshold times in a row."""
        for kind in ("startup", "liveness"):
            runner = self.probes.get(kind)
            if runner and runner.failed_threshold_reached:
                return kind
        return None

    def stop_probes(self) -> None:
        for runner in self.probes.values():
            runner.stop()
        self.probes = {}

    def backoff_reset_due(self, maximum: float) -> bool:
        return time.monotonic() - self.run_started > BACKOFF_RESET_FACTOR * maximum

    def status(self) -> dict:
        status = {
            "name": self.name,
            "image": self.spec.get("image", ""),
            "imageID": "",
            "ready": self.ready,
            "started": self.running and self.started,
            "restartCount": self.restart_count,
            "state": self.state,
            "lastState": self.last_state,
        }
        if self.container_id:
            status["containerID"] = self.container_id
        return status
