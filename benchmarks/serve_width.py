"""What monitoring costs the model server as requests and models grow wide.

    .venv/bin/python benchmarks/serve_width.py [--seconds 3]

For logistic regressions on 10, 100 and 250 numeric features (250 is near the API's limit of
256 columns a Dataset may declare, ballast.api.dataset.MAX_COLUMNS, so the 1,000 features one
might ask about cannot be served at all), trained by Ballast's own trainer on synthetic data:

  in process   ModelService.infer on an already parsed request, with monitoring (feature
               histograms, predictions, the feedback log) and without it (record=False), for
               1 and 100 rows, as a mean over blocks of calls that includes the settles of
               the counts requests hold: what monitoring adds per request, and whether 100
               rows cost 100 times what one row does
  server       `ballast serve` pinned to core 0, one closed-loop keep-alive client on core 1
               posting 1 and then 100 rows: p50 / p99; the server's RSS once ready and after the
               load (VmRSS, and the peak VmHWM), and the size of its /metrics page

Prints its figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import figures
import probes
import serve_latency

REPO = Path(__file__).resolve().parents[1]
WIDTHS = (10, 100, 250)
ROWS = 2000
BLOCKS, BLOCK_CALLS = 9, 200
MIB = 1 << 20


def synthetic(width: int) -> tuple[pd.DataFrame, dict[str, Any]]:
    """`width` standard normal features and a binary target linear in them (seeded)."""
    generator = np.random.default_rng(width)
    features = generator.standard_normal((ROWS, width))
    target = (features @ generator.standard_normal(width) > 0).astype(int)
    names = [f"f{index:04d}" for index in range(width)]
    frame = pd.DataFrame(features, columns=names).assign(target=target)
    schema = {
        "columns": [{"name": name, "type": "float"} for name in names] + [{"name": "target", "type": "integer"}],
        "target": "target",
    }
    return frame, schema


def in_process_ms(trained: Any) -> dict[str, float]:
    """Mean ms a request of service.infer on a parsed document, with and without monitoring, at 1
    and 100 rows. A mean over blocks of calls, the monitored blocks ending with a settle: a
    request holds what it saw and a later settle counts it, so a single call's time would leave
    the counting out."""
    from ballast.serving import load_served_model

    service = load_served_model(trained.store, trained.source()).service
    found = {}
    for rows in (1, 100):
        document = json.loads(serve_latency.request_bodies(trained, rows))
        # blocks alternate, so a change in the machine's load meets both alike; the median block
        times: dict[bool, list[float]] = {True: [], False: []}
        for block in range(BLOCKS + 1):
            for record in (True, False):
                began = time.perf_counter()
                for _ in range(BLOCK_CALLS):
                    service.infer(document, record=record)
                service.live.settle()
                if block:  # the first block warms up
                    times[record].append((time.perf_counter() - began) / BLOCK_CALLS)
        for record, taken in times.items():
            found[f"{rows}:{record}"] = statistics.median(taken) * 1e3
    return found


def metrics_bytes(port: int) -> int:
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/metrics")
    return len(connection.getresponse().read())


def served(trained: Any, workdir: Path, seconds: float) -> dict[str, Any]:
    port = serve_latency.free_port()
    log = workdir / f"ballast-{trained.model}.log"
    process = serve_latency.start_ballast(trained, port, log)
    try:
        serve_latency.wait_ready(process, port, "/v2/health/ready")
        found: dict[str, Any] = {"ready_rss_bytes": probes.rss_bytes(process.pid)}
        for rows in (1, 100):
            request = serve_latency.http_request(
                port, "/v2/models/model/infer", serve_latency.request_bodies(trained, rows).encode()
            )
            found[f"{rows} rows"] = serve_latency.closed_loop(port, request, seconds)
        found.update(
            loaded_rss_bytes=probes.rss_bytes(process.pid),
            peak_rss_bytes=probes.peak_rss_bytes(process.pid),
            metrics_bytes=metrics_bytes(port),
        )
        return found
    except Exception as error:  # noqa: BLE001 - reported beside the figures
        tail = log.read_text()[-1500:] if log.exists() else ""
        return {"error": f"{error}\n{tail}"}
    finally:
        serve_latency.stop(process)


FIGURES = figures.Section("serve_width", figures.BENCHMARKS_DOC)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="closed-loop seconds per width and row count")
    figures.add_update_option(parser, FIGURES)
    return parser


def run(args: argparse.Namespace) -> None:
    sys.path[:0] = [str(REPO)]
    from tests.unit.test_serving_harness import trained_model

    started = time.time()
    load_before = os.getloadavg()
    workdir = Path(tempfile.mkdtemp(prefix="ballast-serve-width-"))
    rows = []
    for width in WIDTHS:
        with contextlib.redirect_stdout(io.StringIO()):  # the trainer prints its result document
            trained = trained_model(
                workdir, f"wide-{width}", synthetic(width), "sklearn.linear_model.LogisticRegression"
            )
        rows.append((width, in_process_ms(trained), served(trained, workdir, args.seconds)))

    print(
        "In process: ModelService.infer on a parsed OIP document (predict + predict_proba), "
        "mean ms a request, settles of the held counts included"
    )
    print(f"{'features':>8} {'rows':>5} {'monitored':>10} {'unmonitored':>12} {'monitoring':>11} {'per row':>9}")
    for width, timing, _ in rows:
        for count in (1, 100):
            on, off = timing[f"{count}:True"], timing[f"{count}:False"]
            print(f"{width:>8} {count:>5} {on:>10.3f} {off:>12.3f} {on - off:>11.3f} {(on - off) / count:>9.4f}")
    print(
        "\nServer: `ballast serve` on core 0, one closed-loop keep-alive client on core 1, "
        f"{args.seconds:g} s per row count; RSS in MiB"
    )
    print(
        f"{'features':>8} {'1 row p50/p99 ms':>17} {'100 rows p50/p99 ms':>20} "
        f"{'RSS ready':>10} {'after':>7} {'peak':>6} {'/metrics':>9}"
    )
    for width, _, result in rows:
        if "error" in result:
            print(f"{width:>8} FAILED: {result['error']}")
            continue
        one, hundred = result["1 rows"], result["100 rows"]
        print(
            f"{width:>8} {one['p50_ms']:>8.3f}/{one['p99_ms']:<8.3f} "
            f"{hundred['p50_ms']:>10.3f}/{hundred['p99_ms']:<9.3f}"
            f"{result['ready_rss_bytes'] / MIB:>10.1f} {result['loaded_rss_bytes'] / MIB:>7.1f} "
            f"{result['peak_rss_bytes'] / MIB:>6.1f} {result['metrics_bytes'] / 1024:>7.0f} KiB"
        )
    load_after = os.getloadavg()
    print(
        f"load average (1 min) {load_before[0]:.2f} at the start, {load_after[0]:.2f} at the end; "
        f"{os.cpu_count()} CPUs; total {time.time() - started:.0f} s"
    )


if __name__ == "__main__":
    sys.exit(figures.run_benchmark(FIGURES, build_parser(), run))
