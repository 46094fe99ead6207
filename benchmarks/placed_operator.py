"""`ballast operator`, with every pod it builds placed on the benchmarks' KWOK nodes.

    python benchmarks/placed_operator.py --namespace NS ... (the flags of `ballast operator`)

BENCH_POD_NODE_SELECTOR (a JSON object) and BENCH_POD_TOLERATIONS (a JSON list) are added to
the pod template of every Job and Deployment the operator creates. Ballast has no setting for
workload placement yet, and the fake nodes must carry a taint so that other sessions' pods on
the shared cluster never land on them; so the benchmark wraps the one function that builds
pod templates (ballast.build.pods.pod_spec) instead of changing the operator. Everything else
is the operator exactly as `ballast operator` runs it.

For investigations, two more variables: BENCH_KOPF_SETTINGS (a JSON object of kopf settings,
e.g. {"queueing.worker_limit": 10}, applied at startup, to try one before proposing it for
ballast.controller.configure) and BENCH_MEMORY_CENSUS (a file: on SIGUSR1 the operator appends
its live objects by type, its RSS before and after malloc_trim, and with PYTHONTRACEMALLOC set
the top allocation sites).
"""

from __future__ import annotations

import json
import os
import sys

from ballast.build import jobs, pods, serving
from ballast.cli import main

NODE_SELECTOR = json.loads(os.environ.get("BENCH_POD_NODE_SELECTOR") or "{}")
TOLERATIONS = json.loads(os.environ.get("BENCH_POD_TOLERATIONS") or "[]")
_pod_spec = pods.pod_spec


def placed_pod_spec(*args, **kwargs) -> dict:
    spec = _pod_spec(*args, **kwargs)
    spec["nodeSelector"] = {**spec.get("nodeSelector", {}), **NODE_SELECTOR}
    spec["tolerations"] = [*spec.get("tolerations", []), *TOLERATIONS]
    return spec


# jobs and serving imported pod_spec by name: replace it where it is looked up
pods.pod_spec = jobs.pod_spec = serving.pod_spec = placed_pod_spec


def write_memory_census(path: str) -> None:
    """Live Python objects by type, and what malloc_trim gives back: whether the operator's
    RSS is objects it holds or freed memory the allocator keeps. For investigations only
    (BENCH_MEMORY_CENSUS=<file>, then SIGUSR1); it takes a second or two."""
    import collections
    import ctypes
    import gc

    def rss() -> int:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) // 1024 for line in status if line.startswith("VmRSS:"))

    objects = gc.get_objects()
    by_type = collections.Counter(type(o).__name__ for o in objects)
    before = rss()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open(path, "a") as out:
        out.write(f"{len(objects)} gc-tracked objects; RSS {before} MiB, after malloc_trim {rss()} MiB\n")
        out.writelines(f"  {count:>9} {name}\n" for name, count in by_type.most_common(25))
        del objects
        import tracemalloc

        if tracemalloc.is_tracing():  # PYTHONTRACEMALLOC=<frames> in the operator's environment
            snapshot = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
            out.write(f"  traced {sum(s.size for s in snapshot.statistics('filename')) // 2**20} MiB; top by site:\n")
            for stat in snapshot.statistics("traceback")[:20]:
                out.write(f"  {stat.size / 2**20:8.1f} MiB {stat.count:>8} blocks\n")
                out.writelines(f"        {line.strip()}\n" for line in stat.traceback.format(limit=4))


if os.environ.get("BENCH_KOPF_SETTINGS"):
    # trying a kopf setting before proposing it for ballast.controller.configure, e.g.
    # BENCH_KOPF_SETTINGS='{"queueing.worker_limit": 10}'
    import kopf

    @kopf.on.startup()
    def _bench_settings(settings: kopf.OperatorSettings, **_) -> None:
        for path, value in json.loads(os.environ["BENCH_KOPF_SETTINGS"]).items():
            section, name = path.split(".")
            setattr(getattr(settings, section), name, value)


if os.environ.get("BENCH_MEMORY_CENSUS"):
    import signal

    signal.signal(signal.SIGUSR1, lambda *_: write_memory_census(os.environ["BENCH_MEMORY_CENSUS"]))

if __name__ == "__main__":
    sys.exit(main(["operator", *sys.argv[1:]]))
