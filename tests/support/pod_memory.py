"""The peak memory of pods, read from their cgroups on the local cluster's node (this machine),
as the kernel counts it against their limits: for a test that says how close pods came.

Sampled while the pods live (a pod's cgroup goes with it); on a node elsewhere (kind) nothing is
found and the peaks stay empty."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from tests.support.kube import Kubectl

CGROUP_ROOTS = (Path("/sys/fs/cgroup/memory/kubepods"), Path("/sys/fs/cgroup/kubepods"))
PEAK_FILES = ("memory.max_usage_in_bytes", "memory.peak")
"""cgroup v1's and v2's high-water mark of the cgroup's memory."""


def pod_cgroup(uid: str) -> Path | None:
    """The pod's cgroup directory: under kubepods, or its burstable or besteffort class."""
    for root in CGROUP_ROOTS:
        for candidate in (root / f"pod{uid}", *root.glob(f"*/pod{uid}")):
            if candidate.is_dir():
                return candidate
    return None


def peak_bytes(uid: str) -> int | None:
    cgroup = pod_cgroup(uid)
    if cgroup is None:
        return None
    for name in PEAK_FILES:
        try:
            return int((cgroup / name).read_text())
        except (OSError, ValueError):
            continue  # the pod ended between the lookup and the read, or the other cgroup version
    return None


class PeakMemory:
    """A background sampler of the pods matching `selector` in k's namespace; `peaks` maps each
    pod's name to the highest peak seen."""

    def __init__(self, k: Kubectl, selector: str, interval: float = 1.0):
        self.k, self.selector, self.interval = k, selector, interval
        self.peaks: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            listed = self.k.run("get", "pods", "--selector", self.selector, "-o", "json", check=False)
            if listed.returncode != 0:
                continue
            for pod in json.loads(listed.stdout)["items"]:
                peak = peak_bytes(pod["metadata"]["uid"])
                if peak is not None:
                    name = pod["metadata"]["name"]
                    self.peaks[name] = max(peak, self.peaks.get(name, 0))
