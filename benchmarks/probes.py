"""What the scale and soak benchmarks read off the operator and the API server.

- Requests: the API server's APF counters for the operator's own FlowSchema
  (apiserver_flowcontrol_dispatched_requests_total: every request the operator made, watches
  included, counted where they are served; ..._rejected_requests_total: its 429s), and the
  cluster-wide apiserver_request_total{code="429"} for context (other sessions share the server).
- Memory and CPU: the operator's resident set and CPU time (from its metrics endpoint when it
  runs as the chart's pod, from /proc as a host process), memory sampled often enough for a peak.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_SAMPLE = re.compile(r"^(?P<name>[a-z_]+)\{(?P<labels>[^}]*)\} (?P<value>\S+)$")


@dataclass(frozen=True)
class ServerCounters:
    at: float
    dispatched: float
    rejected: float
    all_429: float

    def since(self, earlier: ServerCounters) -> ServerCounters:
        return ServerCounters(
            self.at - earlier.at,
            self.dispatched - earlier.dispatched,
            self.rejected - earlier.rejected,
            self.all_429 - earlier.all_429,
        )

    @property
    def rate(self) -> float:
        """Requests per second, for a difference of two snapshots."""
        return self.dispatched / self.at if self.at > 0 else 0.0


def read_server_counters(api, flow_schema: str) -> ServerCounters:
    response = api.call_api("GET", api.configuration.host + "/metrics")
    at = time.monotonic()
    dispatched = rejected = all_429 = 0.0
    for line in response.read().decode().splitlines():
        if not line.startswith(
            (
                "apiserver_flowcontrol_dispatched_requests_total{",
                "apiserver_flowcontrol_rejected_requests_total{",
                "apiserver_request_total{",
            )
        ):
            continue
        match = _SAMPLE.match(line)
        if not match:
            continue
        labels, value = match["labels"], float(match["value"])
        ours = f'flow_schema="{flow_schema}"' in labels
        if match["name"] == "apiserver_flowcontrol_dispatched_requests_total" and ours:
            dispatched += value
        elif match["name"] == "apiserver_flowcontrol_rejected_requests_total" and ours:
            rejected += value
        elif match["name"] == "apiserver_request_total" and 'code="429"' in labels:
            all_429 += value
    return ServerCounters(at, dispatched, rejected, all_429)


def rss_bytes(pid: int) -> int:
    return _status_kib(pid, "VmRSS") * 1024


def peak_rss_bytes(pid: int) -> int:
    """The process's highest resident set size so far (VmHWM)."""
    return _status_kib(pid, "VmHWM") * 1024


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


SAMPLE_SECONDS = 0.4
"""How often the operator's RSS is read: a burst's peak lasts seconds, not minutes."""


class MemorySampler:
    """The operator's RSS every SAMPLE_SECONDS, in a thread. A read that fails (the operator's
    container restarting) is skipped, so a sampler outlives what it measures."""

    def __init__(self, read_bytes: Callable[[], int], interval: float = SAMPLE_SECONDS):
        self.read_bytes = read_bytes
        self.samples: list[tuple[float, int]] = []
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> MemorySampler:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append((time.monotonic(), self.read_bytes()))
            except (OSError, RuntimeError, KeyError, ValueError):
                pass
            self._stop.wait(self._interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def peak(self, since: float = 0.0) -> int:
        return max((rss for at, rss in self.samples if at >= since), default=0)

    def latest(self) -> int:
        return self.samples[-1][1] if self.samples else 0


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100): a value that was actually observed."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def histogram_buckets(text: str, name: str) -> dict[str, dict[float, float]]:
    """A histogram's cumulative bucket counts by `kind` label, from /metrics text."""
    from prometheus_client.parser import text_string_to_metric_families

    buckets: dict[str, dict[float, float]] = {}
    for family in text_string_to_metric_families(text):
        if family.name != name:
            continue
        for sample in family.samples:
            if sample.name == f"{name}_bucket":
                kind = sample.labels.get("kind", "")
                buckets.setdefault(kind, {})[float(sample.labels["le"])] = sample.value
    return buckets


def bucket_quantile(before: dict[float, float], after: dict[float, float], q: float) -> float | None:
    """The upper bound of the bucket holding the q-th quantile of what was observed between two
    scrapes (an upper estimate, as fine as the buckets); None when nothing was observed."""
    bounds = sorted(after)
    counts = [after[bound] - before.get(bound, 0.0) for bound in bounds]
    if not counts or counts[-1] <= 0:
        return None
    return next(bound for bound, count in zip(bounds, counts, strict=True) if count >= q / 100 * counts[-1])
