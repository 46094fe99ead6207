"""Startup, liveness and readiness probes with the kubelet's timing and thresholds.

httpGet and tcpSocket probes connect to the pod's IP (or the probe's `host`); exec probes run
inside the container's mount namespace. A probe's verdict only changes after
failureThreshold consecutive failures or successThreshold consecutive successes.
"""

from __future__ import annotations

import dataclasses
import http.client
import logging
import socket
import ssl
import subprocess
import threading
import time
from typing import Callable

log = logging.getLogger(__name__)


@dataclasses.dataclass
class ProbeTarget:
    pod_ip: str
    container: dict
    exec_argv: Callable[[list[str]], list[str]]  # wraps a command to run inside the container
    env: dict[str, str]


def resolve_port(port: int | str, container: dict) -> int:
    if isinstance(port, int) or str(port).isdigit():
        return int(port)
    for declared in container.get("ports") or []:
        if declared.get("name") == port:
            return int(declared["containerPort"])
    raise ValueError(f"container has no port named {port!r}")


def run_probe_once(probe: dict, target: ProbeTarget) -> tuple[bool, str]:
    """(success, message) of one probe attempt."""
    timeout = probe.get("timeoutSeconds", 1)
    try:
        if "httpGet" in probe:
            return _http(probe["httpGet"], target, timeout)
        if "tcpSocket" in probe:
            spec = probe["tcpSocket"]
            port = resolve_port(spec["port"], target.container)
            with socket.create_connection((spec.get("host") or target.pod_ip, port), timeout=timeout):
                return True, ""
        if "exec" in probe:
            result = subprocess.run(target.exec_argv(probe["exec"]["command"]), env=target.env,
                                    stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
            output = (result.stdout + result.stderr).decode(errors="replace")[-1024:]
            return result.returncode == 0, output
        if "grpc" in probe:
            return False, "grpc probes are not supported by the ballast node agent"
        return False, "probe has no handler"
    except subprocess.TimeoutExpired:
        return False, f"command timed out after {timeout}s"
    except Exception as error:
        return False, str(error)


def _http(spec: dict, target: ProbeTarget, timeout: float) -> tuple[bool, str]:
    host = spec.get("host") or target.pod_ip
    port = resolve_port(spec["port"], target.container)
    if spec.get("scheme", "HTTP").upper() == "HTTPS":
        # the kubelet does not verify a probed server's certificate either
        unverified = ssl._create_unverified_context()
        connection = http.client.HTTPSConnection(host, port, timeout=timeout, context=unverified)
    else:
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
    headers = {"User-Agent": "kube-probe/1.34", "Accept": "*/*"}
    headers.update({h["name"]: h["value"] for h in spec.get("httpHeaders") or []})
    try:
        connection.request("GET", spec.get("path") or "/", headers=headers)
        response = connection.getresponse()
        response.read(10 * 1024)
        if 200 <= response.status < 400:
            return True, ""
        return False, f"HTTP probe failed with statuscode: {response.status}"
    finally:
        connection.close()


class ProbeRunner:
    """Runs one probe of one container in a thread until stopped.

    `succeeded` is the probe's current verdict: readiness starts False, liveness starts True,
    startup starts False. `on_change` is called whenever the verdict flips.
    """

    def __init__(self, kind: str, probe: dict, target: ProbeTarget, on_change: Callable[[], None],
                 on_failure_event: Callable[[str], None], started_at: float):
        self.kind = kind
        self.succeeded = kind == "liveness"
        self.failed_threshold_reached = False
        self._probe = probe
        self._target = target
        self._on_change = on_change
        self._on_failure_event = on_failure_event
        self._started_at = started_at
        self._stop = threading.Event()
        self._enabled = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"probe-{kind}", daemon=True)

    def start(self, enabled: bool = True) -> None:
        if enabled:
            self._enabled.set()
        self._thread.start()

    def enable(self) -> None:
        """Liveness and readiness wait for the startup probe; this lets them begin."""
        self._enabled.set()

    def stop(self) -> None:
        self._stop.set()
        self._enabled.set()

    def _run(self) -> None:
        period = self._probe.get("periodSeconds", 10)
        success_threshold = self._probe.get("successThreshold", 1)
        failure_threshold = self._probe.get("failureThreshold", 3)
        self._enabled.wait()
        delay = self._started_at + self._probe.get("initialDelaySeconds", 0) - time.monotonic()
        if delay > 0 and self._stop.wait(delay):
            return
        successes = failures = 0
        while not self._stop.is_set():
            ok, message = run_probe_once(self._probe, self._target)
            if self._stop.is_set():
                return
            if ok:
                successes, failures = successes + 1, 0
                if not self.succeeded and successes >= success_threshold:
                    self.succeeded = True
                    self._on_change()
                    if self.kind == "startup":
                        return  # a startup probe is done once it has succeeded
            else:
                failures, successes = failures + 1, 0
                self._on_failure_event(f"{self.kind.capitalize()} probe failed: {message}".strip())
                if failures >= failure_threshold:
                    changed = self.succeeded or (self.kind != "readiness" and not self.failed_threshold_reached)
                    self.succeeded = False
                    if self.kind != "readiness":
                        self.failed_threshold_reached = True
                    if changed:
                        self._on_change()
                    if self.kind != "readiness":
                        return  # the container will be restarted with fresh probes
            self._stop.wait(period)
