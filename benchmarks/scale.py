"""Ballast at scale on the local cluster: 2,000 objects (500 of each kind), their pods on KWOK
fake nodes, against the budgets in docs/benchmarks.md (p99 spec change -> observedGeneration
under 250 ms, operator RSS under 150 MiB, with 2,000 objects). Prints its figures; asserts nothing.

    .venv/bin/python benchmarks/scale.py [--per-kind 500] [--namespaces 4] [--samples 400]

Phases, each with its own figures:
  create     the objects are created (8 client threads), then every one settles (see fleet.py)
  idle       nothing changes for --idle seconds: the operator's steady cost (timers, watches)
  latency    --samples spec changes at --rate per second, spread over the four kinds, each
             timed from just before its PATCH is sent to the first watch event whose
             status.observedGeneration reaches the new generation
  restart    the operator killed (its pod deleted with grace 0; the host process SIGKILLed), a
             new one started: time to leading, and to the first full pass (as many reconciles
             as objects, counted by the operator's ballast_reconciliations_total)
  resync     killed and kept down while every object's spec changes, started again: time until
             every object's status.observedGeneration is current
The operator is the Helm chart's Deployment (one replica: chart_operator.py says why), a pod on
the real node under the chart's memory limit, with Ballast's default settings except
timing.datasetWaitSeconds=60, so that TrainingRuns whose Dataset has no valid version (KWOK pods
produce no data) settle in a minute. Its RSS and CPU come from its metrics endpoint (RSS every
0.4 s, for the peaks); each phase also reports the container's cgroup working set and any restart
the benchmark did not cause (an OOM kill shows there). Its requests go to the chart's own APF
priority level (--workload-low: to the level a ServiceAccount gets without the chart's) and are
counted by the API server (see probes.py). --host-process runs `ballast operator` on the host
instead (benchmarks/host_operator.py, with its hooks for investigating memory).
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import figures  # noqa: E402
from fleet import (  # noqa: E402
    PLURALS,
    Fleet,
    GenerationWatch,
    add_fleet_arguments,
    fleet_from,
    load_average,
    mib,
    wait_until_settled,
)
from probes import (  # noqa: E402
    MemorySampler,
    bucket_quantile,
    histogram_buckets,
    percentile,
    read_server_counters,
)

THROTTLED = re.compile(r"status=429|APITooManyRequests|Too [Mm]any [Rr]equests")
RECONCILIATIONS = re.compile(r'^ballast_reconciliations_total\{kind="(\w+)",result="(\w+)"\} (\S+)$', re.M)
P99_BUDGET_SECONDS = 0.25
RSS_BUDGET_MIB = 150


class Report:
    def __init__(self):
        self.lines: list[str] = []

    def add(self, text: str) -> None:
        self.lines.append(text)
        print(text, flush=True)


def reconciliations(text: str) -> dict[str, float]:
    totals: dict[str, float] = {}
    for kind, _result, value in RECONCILIATIONS.findall(text):
        totals[kind] = totals.get(kind, 0.0) + float(value)
    return totals


def measure_changes(
    fleet: Fleet, watcher: GenerationWatch, samples: int, rate: float, drain_timeout: float = 120
) -> tuple[list[tuple[str, float]], int]:
    """Patches `samples` objects at `rate` per second, kinds in turn; returns (plural, seconds)
    per change, and how many were never seen current within drain_timeout."""
    first = len(watcher.latencies)
    rng = random.Random(7)
    keys = {plural: watcher.keys(plural) for plural in PLURALS}
    started = time.monotonic()
    for n in range(samples):
        plural = PLURALS[n % len(PLURALS)]
        key = rng.choice([k for k in keys[plural] if k not in watcher.pending])
        generation = watcher.generation(key)
        if generation is None:  # deleted behind the benchmark's back (see totals)
            continue
        due = started + n / rate
        time.sleep(max(0.0, due - time.monotonic()))
        watcher.expect(key, time.monotonic(), generation + 1)
        patched = fleet.patch_spec(plural, key[1], key[2], generation)
        if patched["metadata"]["generation"] != generation + 1:  # someone else changed it meanwhile
            watcher.expect(key, watcher.pending.get(key, (time.monotonic(), 0))[0], patched["metadata"]["generation"])
    deadline = time.monotonic() + drain_timeout
    while watcher.pending and time.monotonic() < deadline:
        time.sleep(0.2)
    missed = len(watcher.pending)
    watcher.pending.clear()
    return [(plural, seconds) for _at, plural, seconds in watcher.latencies[first:]], missed


OPERATOR_SHARES = {
    "queue wait": "ballast_reconcile_queue_seconds",
    "reconcile": "ballast_reconcile_duration_seconds",
}
"""The operator's own share of a change's latency, from its histograms: the time a key waited
in the queue past its due time, and the reconcile (decide, then write children, status and
Events; the GET before it, when there is one, is in neither)."""


def operator_share_lines(before: str, after: str) -> list[str]:
    lines = ["  in the operator, p50 / p99 ms (bucket upper bounds):"]
    for share, metric in OPERATOR_SHARES.items():
        was, now = histogram_buckets(before, metric), histogram_buckets(after, metric)
        figures = []
        for kind in sorted(now):
            p50, p99 = (bucket_quantile(was.get(kind, {}), now[kind], q) for q in (50, 99))
            if p50 is not None and p99 is not None:
                figures.append(f"{kind} {p50 * 1000:g} / {p99 * 1000:g}")
        lines.append(f"    {share}: {', '.join(figures) or 'none observed'}")
    return lines


def latency_lines(results: list[tuple[str, float]]) -> list[str]:
    lines = [f"    {'kind':<15}{'n':>5}{'p50 ms':>10}{'p90 ms':>10}{'p99 ms':>10}{'max ms':>10}"]
    for kind in (*PLURALS, "all"):
        values = [s * 1000 for p, s in results if kind in ("all", p)]
        lines.append(
            f"    {kind:<15}{len(values):>5}{percentile(values, 50):>10.0f}{percentile(values, 90):>10.0f}"
            f"{percentile(values, 99):>10.0f}{max(values, default=float('nan')):>10.0f}"
        )
    return lines


FIGURES = figures.Section("scale", figures.RELIABILITY_DOC)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=400, help="spec changes timed in the latency phase")
    parser.add_argument("--rate", type=float, default=4.0, help="spec changes per second in the latency phase")
    parser.add_argument("--idle", type=float, default=60.0, help="seconds of the idle phase")
    parser.add_argument(
        "--idle-after-restart", type=float, default=40.0, help="seconds idle after the restart's first pass"
    )
    add_fleet_arguments(parser)
    figures.add_update_option(parser, FIGURES)
    return parser


def run(args: argparse.Namespace) -> int:
    fleet = fleet_from(args)
    total = args.per_kind * len(PLURALS)
    report = Report()
    report.add(
        f"scale benchmark {fleet.id}: {total} objects ({args.per_kind} per kind) in {args.namespaces} "
        f"namespaces, pods on {args.fake_nodes} KWOK nodes; operator "
        f"{'a host process' if fleet.host_process else 'the chart Deployment'}, log {fleet.operator_log}"
    )
    report.add(f"  load average at start: {load_average()}  (other work shares this machine)")
    watcher = None
    sampler = None
    try:
        fleet.prepare()
        watcher = GenerationWatch(fleet)
        watcher.start()
        before = read_server_counters(fleet.api, fleet.flow_schema)
        operator = fleet.start_operator()
        report.add(operator.container_line())
        sampler = MemorySampler(operator.rss_bytes).start()
        cpu0, t0 = operator.cpu_seconds(), time.monotonic()

        # --- create ---------------------------------------------------------------------------
        created_in = fleet.create_objects()
        settled_in = wait_until_settled(watcher, total, timeout=args.settle_timeout)
        after_create = read_server_counters(fleet.api, fleet.flow_schema)
        spent = after_create.since(before)
        report.add(
            f"create: {total} objects created in {created_in:.1f} s "
            f"({total / created_in:.0f}/s), all settled {settled_in:.1f} s after the last create"
        )
        report.add(
            f"  operator requests {spent.dispatched:.0f} ({spent.rate:.1f}/s over {spent.at:.0f} s), "
            f"429s to the operator {spent.rejected:.0f}; CPU {operator.cpu_seconds() - cpu0:.1f} s "
            f"in {time.monotonic() - t0:.0f} s; RSS peak {mib(sampler.peak()):.1f} MiB"
        )
        report.add(operator.container_line())
        report.add(f"  load average: {load_average()}")

        # --- idle -----------------------------------------------------------------------------
        idle_start = read_server_counters(fleet.api, fleet.flow_schema)
        reconciled0, cpu0, t0 = reconciliations(operator.metrics()), operator.cpu_seconds(), time.monotonic()
        time.sleep(args.idle)
        idle = read_server_counters(fleet.api, fleet.flow_schema).since(idle_start)
        elapsed = time.monotonic() - t0
        reconciled = reconciliations(operator.metrics())
        per_kind = ", ".join(
            f"{kind} {(reconciled[kind] - reconciled0.get(kind, 0)) / elapsed:.0f}/s" for kind in sorted(reconciled)
        )
        report.add(
            f"idle {elapsed:.0f} s: operator requests {idle.rate:.2f}/s, 429s {idle.rejected:.0f}; "
            f"CPU {100 * (operator.cpu_seconds() - cpu0) / elapsed:.0f}% of one core; "
            f"RSS {mib(sampler.latest()):.1f} MiB"
        )
        report.add(f"  reconciliations (timers included): {per_kind}")
        report.add(operator.container_line())
        report.add(f"  load average: {load_average()}")

        # --- latency --------------------------------------------------------------------------
        changes_start = read_server_counters(fleet.api, fleet.flow_schema)
        cpu0, t0 = operator.cpu_seconds(), time.monotonic()
        metrics_before = operator.metrics()
        results, missed = measure_changes(fleet, watcher, args.samples, args.rate)
        metrics_after = operator.metrics()
        changes = read_server_counters(fleet.api, fleet.flow_schema).since(changes_start)
        elapsed = time.monotonic() - t0
        all_ms = [s for _p, s in results]
        report.add(
            f"latency: {len(results)} spec changes at {args.rate:g}/s, spec change -> observedGeneration "
            f"(budget p99 < {P99_BUDGET_SECONDS * 1000:.0f} ms): p50 {percentile(all_ms, 50) * 1000:.0f} ms, "
            f"p99 {percentile(all_ms, 99) * 1000:.0f} ms; never current within 120 s: {missed}"
        )
        for line in latency_lines(results):
            report.add(line)
        for line in operator_share_lines(metrics_before, metrics_after):
            report.add(line)
        report.add(
            f"  operator requests {changes.rate:.1f}/s, 429s {changes.rejected:.0f}; "
            f"CPU {100 * (operator.cpu_seconds() - cpu0) / elapsed:.0f}% of one core; "
            f"RSS peak {mib(sampler.peak(t0)):.1f} MiB"
        )
        report.add(operator.container_line())
        report.add(f"  load average: {load_average()}")
        wait_until_settled(watcher, total, timeout=args.settle_timeout)
        rss_settled = sampler.latest()

        # --- restart --------------------------------------------------------------------------
        sampler.stop()
        restart_counters = read_server_counters(fleet.api, fleet.flow_schema)
        started = time.monotonic()
        operator = fleet.restart_operator()
        healthy_in = time.monotonic() - started
        sampler = MemorySampler(operator.rss_bytes).start()
        # every object is reconciled once after a start (its first watch event counts as a change)
        while sum(reconciliations(operator.metrics()).values()) < total and time.monotonic() - started < 600:
            time.sleep(0.2)
        passed_in = time.monotonic() - started
        resumed = round(sum(reconciliations(operator.metrics()).values()))
        restart = read_server_counters(fleet.api, fleet.flow_schema).since(restart_counters)
        standby = (
            f" (up at {operator.up_after:.1f} s, then standing by until the killed pod's Lease expired)"
            if operator.up_after is not None and healthy_in - operator.up_after > 1
            else ""
        )
        report.add(
            f"restart (nothing changed while down): leading {healthy_in:.1f} s after the kill{standby}, "
            f"first full pass ({resumed} reconciles for {total} objects) {passed_in:.1f} s after the kill; "
            f"{restart.dispatched:.0f} requests, 429s {restart.rejected:.0f}; "
            f"RSS {mib(sampler.latest()):.1f} MiB (peak {mib(sampler.peak()):.1f})"
        )
        report.add(operator.container_line())
        # idle again: what the restart's peak left resident (the operator trims freed memory every 30 s)
        time.sleep(args.idle_after_restart)
        rss_restarted = sampler.latest()
        report.add(f"  idle {args.idle_after_restart:.0f} s after the pass: RSS {mib(rss_restarted):.1f} MiB")

        # --- resync ---------------------------------------------------------------------------
        sampler.stop()
        fleet.stop_operator_hard()
        changed_at = time.monotonic()
        keys = [key for plural in PLURALS for key in watcher.keys(plural)]
        generations = {}
        for key in keys:
            generation = watcher.generation(key)
            if generation is not None:
                generations[key] = fleet.patch_spec(key[0], key[1], key[2], generation)["metadata"]["generation"]
        patched_in = time.monotonic() - changed_at
        resync_counters = read_server_counters(fleet.api, fleet.flow_schema)
        started = time.monotonic()
        first = len(watcher.latencies)
        for key, generation in generations.items():
            watcher.expect(key, started, generation)
        operator = fleet.start_operator()
        sampler = MemorySampler(operator.rss_bytes).start()
        deadline = started + args.settle_timeout
        while watcher.pending and time.monotonic() < deadline:
            time.sleep(0.2)
        resync = [s for _at, _p, s in watcher.latencies[first:]]
        missing = len(watcher.pending)
        resync_spent = read_server_counters(fleet.api, fleet.flow_schema).since(resync_counters)
        lease_note = "" if fleet.host_process else " (its Lease removed)"
        report.add(
            f"resync: every object's spec changed while the operator was down{lease_note} "
            f"({len(keys)} patches in {patched_in:.1f} s); after start, observedGeneration current for 50% of them at "
            f"{percentile(resync, 50):.1f} s, 90% at {percentile(resync, 90):.1f} s, all at "
            f"{max(resync, default=float('nan')):.1f} s ({missing} not within {args.settle_timeout:.0f} s)"
        )
        report.add(
            f"  {resync_spent.dispatched:.0f} requests ({resync_spent.rate:.1f}/s), 429s "
            f"{resync_spent.rejected:.0f}; RSS peak {mib(sampler.peak()):.1f} MiB"
        )
        wait_until_settled(watcher, total, timeout=args.settle_timeout)
        report.add(operator.container_line())
        report.add(f"  load average: {load_average()}")

        # --- totals ---------------------------------------------------------------------------
        overall = read_server_counters(fleet.api, fleet.flow_schema).since(before)
        stray = fleet.pods_off_fake_nodes()
        problems = operator.log_problems()
        throttled = [
            line for line in fleet.operator_log.read_text(errors="replace").splitlines() if THROTTLED.search(line)
        ]
        report.add(
            f"totals: {overall.dispatched:.0f} operator requests, 429s to the operator (APF) "
            f"{overall.rejected:.0f}, 429 lines in its log {len(throttled)}, 429s cluster-wide (all clients, "
            f"all sessions) {overall.all_429:.0f}; fleet pods not on KWOK nodes: {len(stray)}; "
            f"operator log problems: {len(problems)}; watches broken and resumed {watcher.restarts}, "
            f"fleet objects deleted by someone else {len(watcher.deleted)}"
        )
        for line in problems[:5]:
            report.add(f"    {line[:300]}")
        report.add(
            f"budgets: p99 {percentile(all_ms, 99) * 1000:.0f} ms vs < {P99_BUDGET_SECONDS * 1000:.0f} ms "
            f"({'met' if percentile(all_ms, 99) < P99_BUDGET_SECONDS else 'MISSED'}); RSS idle with {total} "
            f"objects {mib(rss_settled):.1f} MiB, after a restart {mib(rss_restarted):.1f} MiB (peak "
            f"{mib(max(rss_settled, sampler.peak())):.1f}) vs < {RSS_BUDGET_MIB} MiB "
            f"({'met' if max(mib(rss_settled), mib(rss_restarted)) < RSS_BUDGET_MIB else 'MISSED'})"
        )
        report.add(f"  load average at end: {load_average()}")
    finally:
        fleet.finish(watcher, sampler, keep=args.keep)
    return 0


if __name__ == "__main__":
    sys.exit(figures.run_benchmark(FIGURES, build_parser(), run))
