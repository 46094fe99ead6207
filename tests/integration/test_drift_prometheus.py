"""Drift windows from a real Prometheus against windows scraped from the same model servers.

Two `ballast serve` processes (one model version, as two pods would serve it) are scraped
every second by a real Prometheus (tests/prometheus/build.sh builds it from the Go module
proxy and caches it), each target labelled as Kubernetes discovery labels a pod. Training-like
traffic, then shifted traffic, goes to both; each window is read twice: directly (readings of
both servers at its start and end, `counters.window_between`) and from Prometheus
(`prometheus.window_from_prometheus` over the same instants). No cluster is needed.

Why the two agree only within a bound, and which bound. Prometheus samples each pod once per
second; increase() takes the difference of the first and last samples inside the window and
extrapolates it to the window's ends: it is (v_last - v_first) * F with
F = (t_last - t_first + gap_start + gap_end) / (t_last - t_first), each gap being the distance
from the window's end to the nearest sample (at most about one interval, and shortened towards
the instant the counter would have been 0). The traffic is sent only after a quiet time of
more than two intervals after the start, and ends more than two intervals before the end, so
the first and last samples hold exactly the start and end readings, v_last - v_first is the
exact count, and 1 <= F <= W / (t_last - t_first). The test reads the sample times from
Prometheus and asserts every count within exactly that factor of the direct one. Both windows
are judged against the reference read once from one server, as the operator reads it; the drift
verdicts must be the same.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ballast.api.driftpolicy import DriftChecks
from ballast.build.serving import REFERENCE_PATH
from ballast.drift.counters import Reading, SeriesKey, Window, parse_metrics, window_between
from ballast.drift.evaluation import Evaluation, evaluate
from ballast.drift.prometheus import (
    PrometheusBadResponse,
    PrometheusNoData,
    series_selector,
    window_from_prometheus,
    window_range,
)
from ballast.net.egress import EgressPolicy
from ballast.reasons.driftpolicy import Verdict
from tests.support.kube import REPO
from tests.support.net import free_port
from tests.support.prometheus_server import PrometheusServer, running_prometheus
from tests.unit.test_serving_harness import Client, TrainedModel, mixed_frame, named_inputs, trained_model
from tests.unit.test_serving_process import serve_command

NAMESPACE, MODEL, VERSION = "shop", "accounts", "3"
SCRAPE_SECONDS = 1.0
LOOPBACK = EgressPolicy.from_strings(allow=["127.0.0.1"])  # the test's Prometheus listens there
QUIET_SECONDS = 2.5
"""Between a window's end and the nearest traffic: more than two scrape intervals."""
CHECKS = {
    "estimatedAccuracy": {"enabled": True, "maxDrop": 0.1},
    "accuracy": {"minLabels": 50},
    "featureDrift": {"driftedShare": 0.05},
}


def accounts_frame():
    """mixed_frame plus a feature in the millions below zero, whose bucket bounds Prometheus 3
    spells otherwise than the server (-2.5e+06 for -2500000.0)."""
    frame, schema = mixed_frame()
    frame = frame.copy()
    frame.insert(len(frame.columns) - 1, "balance", -np.random.default_rng(3).lognormal(16.0, 0.5, len(frame)))
    schema = {
        **schema,
        "columns": [
            *schema["columns"][:-1],
            {"name": "balance", "type": "float", "nullable": True},
            schema["columns"][-1],
        ],
    }
    return frame, schema


@pytest.fixture(scope="module")
def accounts(tmp_path_factory) -> TrainedModel:
    return trained_model(
        tmp_path_factory.mktemp("accounts"),
        MODEL,
        accounts_frame(),
        "sklearn.linear_model.LogisticRegression",
        {"max_iter": 2000},
    )


@pytest.fixture(scope="module")
def servers(accounts: TrainedModel, tmp_path_factory) -> Iterator[dict[str, int]]:
    """Two model server processes: pod name -> port."""
    workdir = tmp_path_factory.mktemp("servers")
    pods = {f"{MODEL}-{VERSION}-{suffix}": free_port() for suffix in ("7d4f9-a1", "7d4f9-b2")}
    with ExitStack() as stack:
        processes = []
        for pod, port in pods.items():
            log = stack.enter_context(open(workdir / f"{pod}.log", "wb"))
            processes.append(
                subprocess.Popen(
                    serve_command(accounts, workdir / f"{pod}.termination-log", port, "--model-version", VERSION),
                    stderr=log,
                    cwd=REPO,
                )
            )
        try:
            for (pod, port), process in zip(pods.items(), processes):
                wait_ready(process, port, workdir / f"{pod}.log")
            yield pods
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(10)


@pytest.fixture(scope="module")
def prometheus(servers: dict[str, int], tmp_path_factory) -> Iterator[PrometheusServer]:
    targets = {
        f"127.0.0.1:{port}": {"namespace": NAMESPACE, "pod": pod, "container": "server"}
        for pod, port in servers.items()
    }
    with running_prometheus(tmp_path_factory.mktemp("prometheus"), targets, interval=f"{SCRAPE_SECONDS:g}s") as server:
        server.wait_for_scrapes_after(time.time(), targets=len(targets))
        yield server


def wait_ready(process: subprocess.Popen, port: int, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            status, _ = Client(port).get("/v2/health/ready")
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"the server on {port} did not become ready:\n{log.read_text()}")


def readings(servers: dict[str, int]) -> dict[str, Reading]:
    result = {}
    for pod, port in servers.items():
        client = Client(port)
        status, text = client.get("/metrics")
        client.close()
        assert status == 200
        result[pod] = parse_metrics(text)
    return result


def server_reference(servers: dict[str, int]) -> dict[SeriesKey, float]:
    """The version's reference as the operator reads it: once, from one of its servers."""
    client = Client(next(iter(servers.values())))
    status, text = client.get(REFERENCE_PATH)
    client.close()
    assert status == 200
    return parse_metrics(text).reference


def send(servers: dict[str, int], trained: TrainedModel, rows: pd.DataFrame, labels: pd.Series) -> None:
    """Rows in batches of 50, alternately to each server, each with its labels as feedback."""
    clients = [Client(port) for port in servers.values()]
    for i, start in enumerate(range(0, len(rows), 50)):
        client, request_id = clients[i % len(clients)], f"r{time.monotonic_ns()}-{start}"
        status, answer = client.post(
            f"/v2/models/{MODEL}/infer",
            {"id": request_id, "inputs": named_inputs(rows.iloc[start : start + 50], trained.columns)},
        )
        assert status == 200, answer
        status, answer = client.post(
            f"/v2/models/{MODEL}/feedback", {"id": request_id, "labels": labels.iloc[start : start + 50].tolist()}
        )
        assert status == 200, answer
    for client in clients:
        client.close()


def both_windows(servers, prometheus: PrometheusServer, traffic) -> tuple[Window, Window, float]:
    """The window around `traffic`, read directly and from Prometheus, and the largest
    extrapolation factor Prometheus can have applied to it."""
    started = time.time()
    start = readings(servers)
    time.sleep(QUIET_SECONDS)
    traffic()
    time.sleep(QUIET_SECONDS)
    now = readings(servers)
    ended = time.time()
    prometheus.wait_for_scrapes_after(ended, targets=len(servers))
    counted = window_from_prometheus(prometheus.url, NAMESPACE, MODEL, VERSION, started, ended, egress=LOOPBACK)
    assert counted.reference == {}, "counts only: the operator judges them against its own copy of the reference"
    reference = server_reference(servers)
    direct = replace(window_between(start, now), reference=reference)
    return direct, replace(counted, reference=reference), largest_extrapolation(prometheus, started, ended)


def largest_extrapolation(prometheus: PrometheusServer, started: float, ended: float) -> float:
    """max over the pods of W / (t_last - t_first), from the sample times Prometheus holds."""
    selector, range_ = series_selector(NAMESPACE, MODEL, VERSION), window_range(started, ended)
    matrix = prometheus.api(
        "/api/v1/query", query=f"ballast_serving_rows_total{selector}[{range_}]", time=f"{ended:.3f}"
    )["result"]
    window_milliseconds = int(range_.removesuffix("ms"))  # as Prometheus has it
    assert len(matrix) == 2, matrix
    factors = []
    for series in matrix:
        stamps = [float(t) for t, _ in series["values"]]
        # with half a second to spare: the server answers a scrape a little after its timestamp
        assert stamps[0] < started + QUIET_SECONDS - 0.5 and stamps[-1] > ended - QUIET_SECONDS + 0.5, (
            "a scrape was late: the quiet margins do not cover the window's ends",
            stamps,
            started,
            ended,
        )
        # in whole milliseconds, as Prometheus keeps them: a float of Unix seconds is only good
        # to about 2.4e-7 s, which put the bound below Prometheus's own factor by 1e-8
        first, last = (round(stamp * 1000) for stamp in (stamps[0], stamps[-1]))
        factors.append(window_milliseconds / (last - first))
    return max(factors)


def assert_counts_agree(direct: Window, from_prometheus: Window, factor: float) -> None:
    assert set(from_prometheus.counts) == set(direct.counts)
    for key, exact in direct.counts.items():
        extrapolated = from_prometheus.counts[key]
        if exact == 0:
            assert extrapolated == 0, key
        else:
            ratio = extrapolated / exact
            assert 1 - 1e-9 <= ratio <= factor * (1 + 1e-9), (key, exact, extrapolated, factor)


def verdicts(evaluation: Evaluation) -> dict:
    return {
        "overall": evaluation.verdict,
        **{check.name: check.verdict for check in evaluation.checks},
        **{f"feature {f.feature}": f.drifted for f in evaluation.features},
    }


def test_prometheus_windows_match_scraped_windows_and_give_the_same_verdicts(accounts, servers, prometheus):
    frame = accounts.frame.sample(400, replace=True, random_state=1)
    features, labels = frame.drop(columns="target"), frame["target"]
    shifted = features.copy()
    shifted["mean_radius"] = shifted["mean_radius"] * 1.6
    shifted["balance"] = shifted["balance"] * 3.0
    shifted["clinic"] = "west"  # never seen in training

    steady, steady_prometheus, steady_factor = both_windows(
        servers, prometheus, lambda: send(servers, accounts, features, labels)
    )
    drifting, drifting_prometheus, drifting_factor = both_windows(
        servers, prometheus, lambda: send(servers, accounts, shifted, 1 - labels)
    )  # and the labels flip

    for direct, from_prometheus, factor in (
        (steady, steady_prometheus, steady_factor),
        (drifting, drifting_prometheus, drifting_factor),
    ):
        assert direct.rows == 400 and (direct.pods, direct.restarted_pods) == (2, 0)
        assert (from_prometheus.pods, from_prometheus.restarted_pods) == (2, 0)
        assert_counts_agree(direct, from_prometheus, factor)

    offline = accounts.metadata["metrics"]["accuracy"]
    calm, calm_prometheus = (
        evaluate(window, DriftChecks.model_validate(CHECKS), min_samples=100, offline_accuracy=offline)
        for window in (steady, steady_prometheus)
    )
    moved, moved_prometheus = (
        evaluate(window, DriftChecks.model_validate(CHECKS), min_samples=100, offline_accuracy=offline)
        for window in (drifting, drifting_prometheus)
    )
    assert calm.verdict == Verdict.NO_DRIFT and moved.verdict == Verdict.DRIFT, (calm.summary(), moved.summary())
    assert verdicts(calm_prometheus) == verdicts(calm)
    assert verdicts(moved_prometheus) == verdicts(moved)
    assert {"mean_radius", "balance", "clinic"} <= {f.feature for f in moved_prometheus.features if f.drifted}


def test_bucket_bounds_prometheus_respells_still_meet_the_reference(accounts, servers, prometheus):
    """Prometheus 3 stores `le` as Go formats floats; the window spells it as the server does,
    so each bucket of the large negative feature still finds its reference share."""
    selector = series_selector(NAMESPACE, MODEL, VERSION)
    stored = {
        element["metric"]["le"]
        for element in prometheus.api(
            "/api/v1/query", query=f'ballast_feature_value_bucket{{feature="balance",{selector[1:]}'
        )["result"]
    }
    ended = time.time()
    window = window_from_prometheus(prometheus.url, NAMESPACE, MODEL, VERSION, ended - 10, ended, egress=LOOPBACK)
    served = {
        dict(labels)["le"]
        for (name, labels) in window.counts
        if name == "ballast_feature_value_bucket" and dict(labels)["feature"] == "balance"
    }
    bins = {
        dict(labels)["bin"]
        for (name, labels) in server_reference(servers)
        if name == "ballast_reference_feature_bin_ratio" and dict(labels)["feature"] == "balance"
    }
    assert any("e+" in le for le in stored), stored  # Prometheus's spelling differs...
    assert served == bins and not any("e+" in le for le in served)  # ...the window's is the server's


def test_a_version_prometheus_never_scraped_is_no_data(servers, prometheus):
    ended = time.time()
    with pytest.raises(PrometheusNoData) as raised:
        window_from_prometheus(prometheus.url, NAMESPACE, MODEL, "no-such-version", ended - 30, ended, egress=LOOPBACK)
    assert raised.value.reason == "PrometheusNoData" and "no-such-version" in str(raised.value)


def test_a_window_shorter_than_a_scrape_interval_is_no_data(servers, prometheus):
    ended = time.time() - 2 * SCRAPE_SECONDS
    with pytest.raises(PrometheusNoData):
        window_from_prometheus(
            prometheus.url, NAMESPACE, MODEL, VERSION, ended - SCRAPE_SECONDS / 4, ended, egress=LOOPBACK
        )


def test_a_query_prometheus_refuses_is_a_bad_response(servers, prometheus):
    ended = time.time()
    with pytest.raises(PrometheusBadResponse, match="HTTP 400.*bad_data") as raised:
        window_from_prometheus(
            prometheus.url, NAMESPACE, MODEL, VERSION, ended - 30, ended, namespace_label="not a label", egress=LOOPBACK
        )
    assert raised.value.reason == "PrometheusBadResponse"
