"""`ballast operator` as a host process, with two hooks for investigating its memory.

    python benchmarks/host_operator.py --namespace NS ... (the flags of `ballast operator`)

The fleet benchmarks run it with --host-process (benchmarks/fleet.py); by default they run the
chart's pod instead. Everything is the operator exactly as `ballast operator` runs it, plus, when
their variables are set:

- BENCH_KOPF_SETTINGS: a JSON object of kopf settings, e.g. {"queueing.worker_limit": 10},
  applied at startup, to try one before proposing it for ballast.controller.configure;
- BENCH_MEMORY_CENSUS: a file. On SIGUSR1 the operator appends its live objects by type, its RSS
  before and after malloc_trim, and with PYTHONTRACEMALLOC set the top allocation sites.
"""

from __future__ import annotations

import json
import os
import sys

from ballast.cli import main


def pymalloc_summary() -> list[str]:
    """The totals of sys._debugmallocstats (which prints to the C stderr): arenas, and how much
    of them live blocks, free blocks and unused pools take."""
    import tempfile

    with tempfile.TemporaryFile("w+") as capture:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(capture.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        lines = capture.read().splitlines()
    wanted = (
        "# arenas allocated current",
        "# bytes in allocated blocks",
        "# bytes in available blocks",
        "unused pools *",
        "# bytes lost to",
        "Total",
    )
    if os.environ.get("BENCH_MALLOC_CLASSES"):  # every size class's pools and blocks too
        return [" ".join(line.split()) for line in lines if line.strip()]
    return [" ".join(line.split()) for line in lines if line.lstrip().startswith(wanted) or "unused pools" in line]


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
        out.write("  Python's small-object allocator (sys._debugmallocstats, its summary):\n")
        out.writelines(f"    {line}\n" for line in pymalloc_summary())
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
