"""The operator as the Helm chart installs it: the chart's Deployment, one pod on the local
cluster's real node (kubelet and containerd on this machine), under the chart's memory limit.

What the benchmarks read off it, all from outside the process:
- RSS and CPU: process_resident_memory_bytes and process_cpu_seconds_total from its metrics
  endpoint, at the pod's IP (the local node routes pod IPs from the host; ClusterIPs do not).
- The container's restarts and why (lastState, e.g. OOMKilled), from a watch on its pods: every
  termination is seen as it happens, so an OOM kill shows in the report instead of ending the run.
- The cgroup's working set (what the kernel's OOM killer and the memory limit compare against),
  from the kubelet's /stats/summary through the API server's node proxy.

One replica (the chart ships two, one leading and one standing by): the benchmark measures the
active operator, and a standby runs no kopf, holds no objects and only answers its liveness
probe. With one replica, killing the operator measures a cold start (the new pod's imports,
lists and first pass), not a hand-over to a standby that is already warm; the fault suite
measures the hand-over. A pod deleted with grace 0 does not give up the leader Lease, so its
successor stands by until the Lease expires: `up_after` and the time to leading show both.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException
from tests.support.helm import Release
from tests.support.operator_process import LEADING_SAMPLE, PROBLEM_LINE

CONTAINER = "operator"
METRICS_PORT = 9090
"""The chart's operator.metricsPort, set explicitly so that this file and the pod agree."""
HEALTH_PORT = 8080
"""The chart's operator.healthPort, likewise: a standby answers /healthz there too."""
REPLICAS = 1
_SAMPLE = re.compile(r"^(process_resident_memory_bytes|process_cpu_seconds_total) (\S+)$", re.M)


@dataclass(frozen=True)
class Termination:
    """One end of the operator's container that the benchmark did not cause."""

    pod: str
    reason: str
    exit_code: int
    finished_at: str

    def __str__(self) -> str:
        return f"{self.reason} (exit {self.exit_code}) at {self.finished_at} in {self.pod}"


class ChartOperator:
    """One Helm release of charts/ballast, its operator watching only the fleet's namespaces."""

    def __init__(self, release: Release, api: client.ApiClient, log: Path):
        self.release = release
        self.api = api
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)
        self.log = log
        self.selector = f"app.kubernetes.io/instance={release.name},app.kubernetes.io/component=operator"
        self.pod_name: str | None = None
        self.pod_ip: str | None = None
        self.node: str | None = None
        self.terminations: list[Termination] = []
        self.memory_limit: str | None = None
        self.up_after: float | None = None
        """Seconds from the last kill (or start) until the new pod answered /healthz, leading or not."""
        self._seen: set[tuple[str, str]] = set()
        self._stop = threading.Event()
        self._watch = threading.Thread(target=self._watch_terminations, daemon=True)

    # --- life -----------------------------------------------------------------------------------

    def install(self, values: dict, timeout: int = 300) -> None:
        """`helm install --wait`, then until the pod leads."""
        self.release.install(values, timeout=timeout)
        self._watch.start()
        self._wait_until_leading(time.monotonic(), timeout=timeout)

    def replace(self, timeout: float = 300) -> None:
        """Kills the running pod (deleted with grace 0) and waits until the one its ReplicaSet
        starts instead leads."""
        started = time.monotonic()
        self._delete_pod()
        self._wait_until_leading(started, timeout=timeout)

    def stop_hard(self) -> None:
        """Kills the running pod and keeps the operator down (the Deployment at zero replicas).
        The dead pod's Lease goes too: what follows measures the next start, not the Lease's expiry."""
        self._scale(0)
        self._delete_pod()
        try:
            client.CoordinationV1Api(self.api).delete_namespaced_lease(self._deployment(), self.release.namespace)
        except ApiException as error:
            if error.status != 404:
                raise

    def start(self, timeout: float = 300) -> None:
        """Back to the chart's replicas after stop_hard; returns once the new pod leads."""
        started = time.monotonic()
        self._scale(REPLICAS)
        self._wait_until_leading(started, timeout=timeout)

    def stop(self) -> None:
        """Keeps the pod's log, then `helm uninstall`."""
        self._stop.set()
        if self.pod_name:
            self._save_log(self.pod_name)
            self.pod_name = None
        if self.release.exists():
            self.release.uninstall(timeout=120)

    # --- what the benchmarks read ---------------------------------------------------------------

    def metrics(self, timeout: float = 120) -> str:
        """The operator's /metrics, waiting out a restart of its container (an OOM kill)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self._scrape()
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def rss_bytes(self) -> int:
        return int(float(self._process_samples(self._scrape())["process_resident_memory_bytes"]))

    def cpu_seconds(self) -> float:
        return float(self._process_samples(self.metrics())["process_cpu_seconds_total"])

    def working_set_bytes(self) -> int | None:
        """The container's cgroup working set as the kubelet reports it, or None when it does not."""
        if not (self.node and self.pod_name):
            return None
        try:
            summary = self.api.call_api(
                "GET", f"{self.api.configuration.host}/api/v1/nodes/{self.node}/proxy/stats/summary"
            )
            pods = json.loads(summary.read())["pods"]
        except (ApiException, OSError, ValueError, KeyError):
            return None
        for pod in pods:
            if pod["podRef"]["name"] == self.pod_name:
                for container in pod.get("containers") or []:
                    if container["name"] == CONTAINER:
                        return (container.get("memory") or {}).get("workingSetBytes")
        return None

    def container_line(self) -> str:
        """The container's restarts the benchmark did not cause, and its memory against its limit."""
        working_set = self.working_set_bytes()
        figure = f"{working_set / 2**20:.1f} MiB" if working_set is not None else "not reported"
        ends = ", ".join(str(t) for t in self.terminations) or "none"
        oom = sum(1 for t in self.terminations if t.reason == "OOMKilled")
        return (
            f"  operator pod {self.pod_name} on {self.node}: cgroup working set {figure} (limit {self.memory_limit}); "
            f"container restarts {len(self.terminations)}, OOMKilled {oom}: {ends}"
        )

    def log_problems(self) -> list[str]:
        """Problem lines in the logs of every pod so far: those kept, and the running one's."""
        kept = self.log.read_text(errors="replace") if self.log.exists() else ""
        text = kept + (self._pod_log(self.pod_name) if self.pod_name else "")
        return [line for line in text.splitlines() if PROBLEM_LINE.search(line)]

    # --- inside ---------------------------------------------------------------------------------

    def _scrape(self) -> str:
        if not self.pod_ip:
            raise ConnectionError("the operator has no pod yet")
        with urllib.request.urlopen(f"http://{self.pod_ip}:{METRICS_PORT}/metrics", timeout=5) as response:
            return response.read().decode()

    @staticmethod
    def _process_samples(text: str) -> dict[str, str]:
        return dict(_SAMPLE.findall(text))

    def _pods(self) -> list[client.V1Pod]:
        pods = self.core.list_namespaced_pod(self.release.namespace, label_selector=self.selector).items
        return [p for p in pods if not p.metadata.deletion_timestamp]

    def _wait_until_leading(self, started: float, timeout: float) -> None:
        deadline = started + timeout
        self.up_after = None
        while time.monotonic() < deadline:
            for pod in self._pods():
                if pod.status.phase != "Running" or not pod.status.pod_ip:
                    continue
                self.pod_name, self.pod_ip, self.node = pod.metadata.name, pod.status.pod_ip, pod.spec.node_name
                try:
                    if self.up_after is None:
                        urllib.request.urlopen(f"http://{self.pod_ip}:{HEALTH_PORT}/healthz", timeout=1).close()
                        self.up_after = time.monotonic() - started
                    if LEADING_SAMPLE in self._scrape().splitlines():
                        (container,) = [c for c in pod.spec.containers if c.name == CONTAINER]
                        self.memory_limit = (container.resources.limits or {}).get("memory")
                        return
                except OSError:
                    pass
            time.sleep(0.2)
        raise TimeoutError(f"no operator pod of {self.release.name} leading within {timeout:.0f} s")

    def _delete_pod(self) -> None:
        """Deletes the running pod with grace 0 and waits until it no longer answers: its
        container on the node outlives its API object by a moment."""
        name, ip = self.pod_name, self.pod_ip
        if not name:
            return
        self._save_log(name)
        self.core.delete_namespaced_pod(name, self.release.namespace, grace_period_seconds=0)
        self.pod_name = self.pod_ip = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://{ip}:{METRICS_PORT}/metrics", timeout=1).close()
            except OSError:
                return
            time.sleep(0.2)

    def _scale(self, replicas: int) -> None:
        name = self._deployment()
        self.apps.patch_namespaced_deployment_scale(name, self.release.namespace, {"spec": {"replicas": replicas}})

    def _deployment(self) -> str:
        (deployment,) = self.apps.list_namespaced_deployment(self.release.namespace, label_selector=self.selector).items
        return deployment.metadata.name

    def _save_log(self, pod: str) -> None:
        with self.log.open("a") as out:
            out.write(self._pod_log(pod))

    def _pod_log(self, pod: str) -> str:
        """The pod's log, after its previous container's when it restarted (an OOM kill)."""
        parts = []
        for previous in (True, False):
            try:
                text = self.core.read_namespaced_pod_log(
                    pod, self.release.namespace, container=CONTAINER, previous=previous
                )
            except (ApiException, urllib.error.URLError, OSError):
                continue
            parts.append(f"--- {pod}{' (previous container)' if previous else ''}\n{text}")
        return "".join(parts)

    def _watch_terminations(self) -> None:
        """Records every end of the operator's container in lastState, once each."""
        while not self._stop.is_set():
            try:
                stream = watch.Watch()
                for event in stream.stream(
                    self.core.list_namespaced_pod,
                    self.release.namespace,
                    label_selector=self.selector,
                    timeout_seconds=60,
                ):
                    self._record(event["object"])
                    if self._stop.is_set():
                        stream.stop()
            except Exception:  # noqa: BLE001 - the API server restarted or the watch expired: again
                time.sleep(1)

    def _record(self, pod: client.V1Pod) -> None:
        for status in pod.status.container_statuses or []:
            ended = status.last_state.terminated if status.last_state else None
            if status.name != CONTAINER or ended is None:
                continue
            key = (pod.metadata.name, str(ended.finished_at))
            if key not in self._seen:
                self._seen.add(key)
                self.terminations.append(
                    Termination(pod.metadata.name, ended.reason or "?", ended.exit_code, str(ended.finished_at))
                )
