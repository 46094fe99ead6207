"""Ballast under a steady change rate for a long time: does the operator's memory grow, does
reconcile latency drift? The same fleet as benchmarks/scale.py (2,000 objects, pods on KWOK
fake nodes). Prints a line per interval and a summary; asserts nothing.

    .venv/bin/python benchmarks/soak.py [--minutes 30] [--rate 2] [--per-kind 500]

Every --rate per second one object's spec changes (the four kinds in turn, a random object
of the kind each time; a Dataset change starts a new ingest Job, whose KWOK pod completes).
Latency is spec change -> status.observedGeneration current, as in scale.py. The operator is
the chart's pod (or with --host-process a host process), as in scale.py; RSS is its resident
set; growth is reported from the end of the first interval (imports, caches and
first allocations done) to the end, with a least-squares slope over the samples in between.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import figures  # noqa: E402
from fleet import (  # noqa: E402
    PLURALS,
    GenerationWatch,
    add_fleet_arguments,
    fleet_from,
    load_average,
    mib,
    wait_until_settled,
)
from probes import MemorySampler, percentile, read_server_counters  # noqa: E402

MISSED_AFTER_SECONDS = 120


def slope_per_hour(samples: list[tuple[float, int]]) -> float:
    """Least-squares slope of RSS over time, in MiB per hour."""
    if len(samples) < 2:
        return float("nan")
    xs = [t for t, _ in samples]
    ys = [mib(v) for _, v in samples]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mean_x) ** 2 for x in xs)
    return 3600 * sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / var if var else float("nan")


FIGURES = figures.Section("soak", figures.RELIABILITY_DOC)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="how long the change rate is kept up")
    parser.add_argument("--rate", type=float, default=2.0, help="spec changes per second")
    parser.add_argument("--interval", type=float, default=60.0, help="seconds per report line")
    add_fleet_arguments(parser)
    figures.add_update_option(parser, FIGURES)
    return parser


def run(args: argparse.Namespace) -> int:
    fleet = fleet_from(args)
    total = args.per_kind * len(PLURALS)
    print(
        f"soak benchmark {fleet.id}: {total} objects, {args.rate:g} spec changes/s for {args.minutes:g} min; "
        f"operator log {fleet.operator_log}",
        flush=True,
    )
    print(f"  load average at start: {load_average()}  (other work shares this machine)", flush=True)
    watcher = sampler = None
    try:
        fleet.prepare()
        watcher = GenerationWatch(fleet)
        watcher.start()
        operator = fleet.start_operator()
        print(operator.container_line(), flush=True)
        sampler = MemorySampler(operator.rss_bytes).start()
        fleet.create_objects()
        settled_in = wait_until_settled(watcher, total, timeout=args.settle_timeout)
        print(
            f"  {total} objects settled {settled_in:.0f} s after the last create; RSS {mib(sampler.latest()):.1f} MiB",
            flush=True,
        )

        print(
            f"{'min':>6}{'RSS MiB':>9}{'changes':>9}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}{'missed':>8}"
            f"{'req/s':>7}{'429s':>6}{'CPU %':>7}  load 1/5/15",
            flush=True,
        )
        rng = random.Random(11)
        keys = {plural: watcher.keys(plural) for plural in PLURALS}
        started = time.monotonic()
        end = started + args.minutes * 60
        sent = missed = 0
        first_done = 0
        rows: list[tuple[float, int, list[float]]] = []
        next_report = started + args.interval
        counters, cpu0 = read_server_counters(fleet.api, fleet.flow_schema), operator.cpu_seconds()
        interval_start, overall = started, counters
        while True:
            now = time.monotonic()
            if now >= next_report or now >= end:
                with watcher.lock:
                    stale = [k for k, (since, _) in watcher.pending.items() if now - since > MISSED_AFTER_SECONDS]
                    for key in stale:
                        del watcher.pending[key]
                    done = watcher.latencies[first_done:]
                    first_done = len(watcher.latencies)
                missed += len(stale)
                ms = [s * 1000 for _at, _p, s in done]
                latest = read_server_counters(fleet.api, fleet.flow_schema)
                spent, cpu = latest.since(counters), operator.cpu_seconds()
                rss = sampler.latest()
                rows.append((now - started, rss, ms))
                one, five, fifteen = os.getloadavg()
                print(
                    f"{(now - started) / 60:>6.1f}{mib(rss):>9.1f}{len(ms):>9}{percentile(ms, 50):>8.0f}"
                    f"{percentile(ms, 99):>8.0f}{max(ms, default=float('nan')):>8.0f}{len(stale):>8}"
                    f"{spent.rate:>7.1f}{spent.rejected:>6.0f}{100 * (cpu - cpu0) / (now - interval_start):>7.0f}"
                    f"  {one:.1f}/{five:.1f}/{fifteen:.1f}",
                    flush=True,
                )
                counters, cpu0, interval_start = latest, cpu, now
                next_report += args.interval
                if now >= end:
                    break
            plural = PLURALS[sent % len(PLURALS)]
            key = rng.choice(keys[plural])
            generation = watcher.generation(key)
            if key not in watcher.pending and generation is not None:
                watcher.expect(key, time.monotonic(), generation + 1)
                fleet.patch_spec(plural, key[1], key[2], generation)
            sent += 1
            time.sleep(max(0.0, started + sent / args.rate - time.monotonic()))

        # --- summary ------------------------------------------------------------------------
        soaked = read_server_counters(fleet.api, fleet.flow_schema).since(overall)
        after_first = [(t, v) for t, v in sampler.samples if t >= started + args.interval]
        first_rss = rows[0][1] if rows else 0
        last_rss = rows[-1][1] if rows else 0
        all_ms = [m for _t, _r, ms in rows for m in ms]
        first_ms, last_ms = (rows[0][2], rows[-1][2]) if rows else ([], [])
        print(
            f"summary: {args.minutes:g} min at {args.rate:g} changes/s, {len(all_ms)} changes timed, "
            f"{missed} not current within {MISSED_AFTER_SECONDS} s"
        )
        print(
            f"  RSS after the first interval {mib(first_rss):.1f} MiB, at the end {mib(last_rss):.1f} MiB "
            f"(growth {mib(last_rss - first_rss):+.1f} MiB, slope {slope_per_hour(after_first):+.1f} MiB/h); "
            f"peak {mib(sampler.peak()):.1f} MiB"
        )
        print(
            f"  latency p50/p99: first interval {percentile(first_ms, 50):.0f}/{percentile(first_ms, 99):.0f} ms, "
            f"last interval {percentile(last_ms, 50):.0f}/{percentile(last_ms, 99):.0f} ms, "
            f"whole soak {percentile(all_ms, 50):.0f}/{percentile(all_ms, 99):.0f} ms"
        )
        problems = operator.log_problems()
        print(
            f"  operator requests {soaked.rate:.1f}/s, 429s to the operator {soaked.rejected:.0f}, "
            f"fleet pods not on KWOK nodes {len(fleet.pods_off_fake_nodes())}, "
            f"operator log problems {len(problems)}, "
            f"fleet objects deleted by someone else {len(watcher.deleted)}"
        )
        for line in problems[:5]:
            print(f"    {line[:300]}")
        print(operator.container_line())
        print(f"  load average at end: {load_average()}", flush=True)
    finally:
        fleet.finish(watcher, sampler, keep=args.keep)
    return 0


if __name__ == "__main__":
    sys.exit(figures.run_benchmark(FIGURES, build_parser(), run))
