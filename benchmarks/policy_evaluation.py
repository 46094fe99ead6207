"""One DriftPolicy evaluation from counters: 4 real model servers, a model with 100 features.

    .venv/bin/python benchmarks/policy_evaluation.py [--features 100] [--pods 4] [--repeats 20]

Trains a logistic regression on synthetic data with `--features` numeric features (a fifth of
them categorical) with Ballast's own trainer, starts `--pods` `ballast serve` processes on
loopback (standing in for one version's serving pods), sends each some traffic, then times
what the operator does per evaluation, as ballast.handlers.driftpolicy does it:

  scrape     GET /metrics of every pod, in parallel (ballast.canary.scrape.scrape_by_address)
  parse      each text into a Reading (ballast.drift.counters.parse_metrics)
  window     the difference from the window's start readings, summed over pods
  evaluate   every check: feature drift on every feature, prediction drift, integrity,
             accuracy, estimated accuracy (ballast.drift.evaluation.evaluate)

Prints medians and the p95 over `--repeats` evaluations, and the size of one scrape. Asserts
nothing (docs/benchmarks.md: window evaluation from counters in milliseconds).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

import figures  # noqa: E402
from ballast.api.driftpolicy import DriftChecks  # noqa: E402
from ballast.build.serving import REFERENCE_PATH  # noqa: E402
from ballast.canary.scrape import scrape_by_address  # noqa: E402
from ballast.drift.counters import parse_metrics, window_between  # noqa: E402
from ballast.drift.evaluation import evaluate  # noqa: E402
from serve_latency import FEEDBACK_TOKEN, free_port, start_ballast, stop, wait_ready  # noqa: E402

CHECKS = DriftChecks.model_validate({"estimatedAccuracy": {"enabled": True}, "accuracy": {"minLabels": 10}})


def synthetic(features: int, rows: int, seed: int) -> tuple[pd.DataFrame, dict]:
    rng = np.random.default_rng(seed)
    categorical = features // 5
    frame = pd.DataFrame({f"n{i}": rng.normal(i % 7, 1 + i % 3, rows) for i in range(features - categorical)})
    for i in range(categorical):
        frame[f"c{i}"] = rng.choice([f"v{j}" for j in range(4 + i % 6)], rows)
    frame["target"] = (frame["n0"] + rng.normal(0, 1, rows) > 0).astype(int)
    columns = [{"name": c, "type": "float"} for c in frame.columns if c.startswith("n")]
    columns += [{"name": c, "type": "string"} for c in frame.columns if c.startswith("c")]
    return frame, {"columns": columns + [{"name": "target", "type": "integer"}], "target": "target"}


def send_traffic(port: int, trained, frame: pd.DataFrame, requests: int) -> None:
    from tests.unit.test_serving_harness import named_inputs

    for i in range(requests):
        batch = frame.sample(20, random_state=i).drop(columns="target")
        body = json.dumps({"id": f"r{i}", "inputs": named_inputs(batch, trained.columns)}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v2/models/model/infer", data=body, headers={"Content-Type": "application/json"}
        )
        urllib.request.urlopen(request, timeout=10).read()
        labels = json.dumps({"id": f"r{i}", "labels": frame.loc[batch.index, "target"].tolist()}).encode()
        feedback = urllib.request.Request(
            f"http://127.0.0.1:{port}/v2/models/model/feedback",
            data=labels,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {FEEDBACK_TOKEN}"},
        )
        urllib.request.urlopen(feedback, timeout=10).read()


FIGURES = figures.Section("policy_evaluation", figures.BENCHMARKS_DOC)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument("--pods", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=20)
    figures.add_update_option(parser, FIGURES)
    return parser


def run(args: argparse.Namespace) -> None:
    from tests.unit.test_serving_harness import trained_model

    print(
        f"policy evaluation benchmark; Python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f} (other work on the machine inflates every figure)"
    )
    with tempfile.TemporaryDirectory(prefix="ballast-policy-bench-") as tmp:
        workdir = Path(tmp)
        frame, schema = synthetic(args.features, 5000, seed=3)
        trained = trained_model(
            workdir, "model", (frame, schema), "sklearn.linear_model.LogisticRegression", {"max_iter": 500}
        )
        ports = [free_port() for _ in range(args.pods)]
        servers = [start_ballast(trained, port, workdir / f"server-{port}.log") for port in ports]
        try:
            for server, port in zip(servers, ports):
                wait_ready(server, port, "/v2/models/model/ready")
            addresses = [f"127.0.0.1:{port}" for port in ports]
            for port in ports:
                send_traffic(port, trained, frame, 10)
            start = {a: parse_metrics(t) for a, t in scrape_by_address(addresses, port=None).items()}
            # read once per version by the operator (ballast.reference_metrics), so not timed
            (reference_text,) = scrape_by_address(addresses[:1], port=None, path=REFERENCE_PATH).values()
            reference = parse_metrics(reference_text).reference
            for port in ports:
                send_traffic(port, trained, frame, 10)
            timings: dict[str, list[float]] = {"scrape": [], "parse": [], "window": [], "evaluate": [], "total": []}
            size = 0
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                texts = scrape_by_address(addresses, port=None)
                t1 = time.perf_counter()
                readings = {address: parse_metrics(text) for address, text in texts.items()}
                t2 = time.perf_counter()
                window = replace(window_between(start, readings), reference=reference)
                t3 = time.perf_counter()
                result = evaluate(
                    window, CHECKS, min_samples=100, offline_accuracy=trained.metadata["metrics"]["accuracy"]
                )
                t4 = time.perf_counter()
                for name, seconds in zip(timings, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0)):
                    timings[name].append(seconds)
                size = sum(len(text) for text in texts.values())
        finally:
            for server in servers:
                stop(server)
    series = len(readings[addresses[0]].counters)
    print(
        f"{args.features} features ({args.features // 5} categorical), {args.pods} pods, "
        f"{size / args.pods / 1024:.0f} KiB and {series} series per scrape ({len(reference)} reference series "
        f"read once); verdict {result.verdict}, "
        f"{window.rows:.0f} rows in the window, {len(result.features)} features judged"
    )
    for name, values in timings.items():
        values = sorted(values)
        p95 = values[min(len(values) - 1, int(0.95 * len(values)))]
        print(f"  {name:<9} median {statistics.median(values) * 1000:7.2f} ms   p95 {p95 * 1000:7.2f} ms")


if __name__ == "__main__":
    sys.exit(figures.run_benchmark(FIGURES, build_parser(), run))
