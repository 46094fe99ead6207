"""A DriftPolicy that reads its windows from a real Prometheus, on the real local cluster.

Prometheus (tests/prometheus/build.sh) runs on the host and finds the serving pods through the
API server (kubernetes_sd_configs, role pod, the test's namespace only), scrapes their `http`
port every second and puts the pod's namespace on every series, as a PodMonitor would. A model
serves; a notify policy with `source.prometheusUrl` watches it while training-like traffic runs
over several windows and must stay quiet, then the traffic shifts and it must fire. A second
policy on the same model points at a port where nothing listens: it must say so in Ready and
an Event, every interval, and the operator must log no error for it.

Run it alone to watch it: `.venv/bin/pytest tests/e2e/test_drift_prometheus.py -s`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ballast.drift.prometheus import series_selector
from ballast.reconcile.durations import parse_time
from tests.conftest import make_namespace
from tests.support import shifting
from tests.support.ballast_objects import condition, drift_policy
from tests.support.kube import Kubectl, shared_store_dir, wait_for
from tests.support.net import free_port
from tests.support.operator_process import OperatorProcess
from tests.support.prometheus_server import PrometheusServer, running_prometheus, serving_pods_config
from tests.support.shifting_cluster import serve_first_model, shifting_traffic

POLICY, UNREACHABLE = f"{shifting.MODEL}-prometheus", f"{shifting.MODEL}-no-prometheus"
INTERVAL, PERIOD, SCRAPE = 2, 8, 1
"""Seconds between evaluations, of a window, between scrapes."""
MIN_SAMPLES, ROWS_PER_SECOND = 400, 80
"""More rows than the traffic sends in one interval, whatever the machine's speed: increase()
extrapolates a window of two scrapes to twice the rows counted between them, so a window of
one interval would be judged on half the rows it claims, and PSI on 200 rows is too noisy for
a test that must never fire (it did, at 0.32, when unpaced traffic sent 200 rows a second)."""
QUERY_LOG = "queries.log"


def notify_policy(name: str, prometheus_url: str) -> dict:
    checks = {
        "featureDrift": {"numericMethod": "psi", "driftedShare": 0.5},
        "accuracy": {"minLabels": MIN_SAMPLES, "maxDrop": 0.1},
    }
    return drift_policy(
        name, shifting.MODEL, checks, interval=f"{INTERVAL}s", min_samples=MIN_SAMPLES, period=f"{PERIOD}s",
        source={"prometheusUrl": prometheus_url},
    )  # fmt: skip


@pytest.fixture
def prometheus(kubeconfig: Path, namespace: str, tmp_path: Path) -> Iterator[PrometheusServer]:
    """Prometheus discovering the serving pods of the test's namespace; it logs every query."""
    workdir = tmp_path / "prometheus"
    config = serving_pods_config(kubeconfig, namespace, f"{SCRAPE}s")
    config["global"]["query_log_file"] = str(workdir / QUERY_LOG)
    with running_prometheus(workdir, config=config) as server:
        yield server


def _status(k: Kubectl, name: str) -> dict:
    return k.get_json("driftpolicy", name).get("status") or {}


def _events(k: Kubectl, name: str, reason: str) -> list[dict]:
    return k.get_json("events", "--field-selector", f"involvedObject.name={name},reason={reason}")["items"]


def _operator_samples(metrics_text: str, name: str, **labels: str) -> list[tuple[dict, float]]:
    return [
        (sample.labels, sample.value)
        for family in text_string_to_metric_families(metrics_text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    ]


def _logged_queries(prometheus: PrometheusServer) -> list[tuple[str, float]]:
    """(query, evaluation time) of every query Prometheus answered, from its query log."""
    path = prometheus.log_path.with_name(QUERY_LOG)
    entries = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [(entry["params"]["query"], parse_time(entry["params"]["end"]).timestamp()) for entry in entries]


def test_a_policy_reading_prometheus_stays_quiet_on_training_traffic_and_fires_on_shifted_traffic(
    kubectl: Kubectl, namespace: str, prometheus: PrometheusServer, ballast_operator
):
    k = kubectl.in_namespace(namespace)
    started = time.monotonic()
    champion = serve_first_model(k)
    served_in = time.monotonic() - started

    # Prometheus found the serving pod by itself and labelled its series as a PodMonitor would.
    prometheus.wait_for_scrapes_after(time.time(), targets=1)
    pods = [pod["metadata"]["name"] for pod in k.get_json("pods", "-l", "app.kubernetes.io/component=serving")["items"]]
    selector = series_selector(namespace, shifting.MODEL, champion)
    series = prometheus.api("/api/v1/series", **{"match[]": f"ballast_serving_rows_total{selector}"})
    assert [(s["pod"], s["container"]) for s in series] == [(pods[0], "server")], (series, pods)

    unreachable_url = f"http://127.0.0.1:{free_port()}"
    with shifting_traffic(k, shifted=False, max_rows_per_second=ROWS_PER_SECOND) as traffic:
        # The policies come to a model already in use, as they would in production (the very
        # first scrapes of a new series are not counted by increase()).
        wait_for(
            lambda: prometheus.api("/api/v1/query", query=f"ballast_serving_rows_total{selector} > 0")["result"],
            timeout=30,
            interval=0.5,
            message="Prometheus has scraped the traffic",
        )
        k.apply(notify_policy(POLICY, prometheus.url))
        k.apply(notify_policy(UNREACHABLE, unreachable_url))

        # Training-like traffic, judged on several windows of Prometheus's counts: no firing.
        calm: dict[str, dict] = {}
        broken_seen: list[dict] = []  # the other policy, as often as this one

        def three_windows_judged_or_a_firing() -> bool:
            broken_seen.append(_status(k, UNREACHABLE))
            status = _status(k, POLICY)
            if status.get("lastEvaluationTime") and status.get("modelVersion") == champion:
                calm[status["lastEvaluationTime"]] = status
            return (
                bool(status.get("firings"))
                or len({s["windowStart"] for s in calm.values() if s.get("verdict") == "NoDrift"}) >= 3
            )

        wait_for(
            three_windows_judged_or_a_firing,
            timeout=3 * PERIOD + 30,
            interval=0.3,
            message="three windows judged NoDrift",
        )
        assert not any(s.get("firings") for s in calm.values()), f"training-like traffic fired: {calm}"
        assert {s["verdict"] for s in calm.values()} <= {"NoDrift", "NotEnoughData"}, calm
        judged = [s for s in calm.values() if s["verdict"] == "NoDrift"]
        assert all(
            s["samples"] >= MIN_SAMPLES and {c["name"] for c in s["checks"]} >= {"featureDrift", "accuracy"}
            for s in judged
        ), judged
        assert condition(k.get_json("driftpolicy", POLICY), "Drifting")["status"] == "False"

        # The world shifts: the next windows must fire.
        onset = time.time()
        traffic.world = "shifted"
        status = wait_for(
            lambda: (lambda s: s if s.get("firings") else None)(_status(k, POLICY)),
            timeout=PERIOD + 4 * INTERVAL + 4 * SCRAPE,
            interval=0.3,
            message="the policy fires",
        )
        fired_at = time.time()
        # The gauges show the latest evaluation, not the firing one: read them while the shifted
        # traffic still fills the window. An evaluation whose window holds enough rows but too
        # few labels yet (labels reach Prometheus a scrape after their rows) has no accuracy
        # score to export, so wait for one that has both.
        mine = {"namespace": namespace, "policy": POLICY, "model": shifting.MODEL}

        def scores_of(metrics_text: str) -> dict[str, float]:
            return {
                labels["check"]: value
                for labels, value in _operator_samples(metrics_text, "ballast_drift_score", **mine)
            }

        text = wait_for(
            lambda: (lambda t: t if {"featureDrift", "accuracy"} <= scores_of(t).keys() else None)(
                ballast_operator.metrics()
            ),
            timeout=4 * INTERVAL + 2 * SCRAPE,
            interval=0.3,
            message="the operator exports the featureDrift and accuracy scores",
        )
    assert traffic.failures == [], traffic.failures[:5]
    # A window that is mostly calm fires once a quarter of its rows are shifted (half of them
    # are wrong then: below the accuracy limit); one that restarted just then fires at its
    # second evaluation (the first has fewer than MIN_SAMPLES rows). Add the scrape's delay
    # and the timer's tick (a second).
    assert fired_at - onset <= 3 * INTERVAL + 2 * SCRAPE + 1, f"fired {fired_at - onset:.1f}s after the shift"

    policy = k.get_json("driftpolicy", POLICY)
    firings = policy["status"]["firings"]
    assert len(firings) == 1, firings
    firing = firings[0]
    assert (firing["action"], firing["modelVersion"]) == ("notify", champion) and "trainingRun" not in firing, firing
    drifting = condition(policy, "Drifting")
    assert drifting["status"] == "True" and drifting["reason"] in (
        "FeatureDrift",
        "Accuracy",
        "Integrity",
        "PredictionDrift",
    ), drifting
    assert condition(policy, "Ready")["status"] == "True", policy["status"]
    checks = {c["name"]: c for c in status["checks"]}
    assert checks["featureDrift"]["verdict"] == "Drift" or checks["accuracy"]["verdict"] == "Drift", checks
    assert next(f for f in status["features"] if f["name"] == "x1")["drifted"], status["features"]
    assert status["samples"] >= MIN_SAMPLES
    events = _events(k, POLICY, "DriftDetected")
    assert [e["type"] for e in events] == ["Warning"] and champion in events[0]["message"], events

    # The firing evaluation read its counts from Prometheus, at its own instant, by the
    # labels Prometheus attached (namespace) and the server exported (model, version).
    fired_second = parse_time(firing["time"]).timestamp()
    rows_queries = [
        at for query, at in _logged_queries(prometheus) if f"increase(ballast_serving_rows_total{selector}[" in query
    ]
    assert any(fired_second <= at < fired_second + 1 for at in rows_queries), (firing["time"], rows_queries[-5:])

    # The operator exports the evaluation and the firing.
    x1 = _operator_samples(text, "ballast_drift_feature_score", **mine, feature="x1", method="psi")
    x1_threshold = next(f for f in status["features"] if f["name"] == "x1")["threshold"]
    assert len(x1) == 1 and x1[0][1] > x1_threshold, (x1, x1_threshold)
    assert not _operator_samples(text, "ballast_drift_feature_pvalue", **mine), "psi is a distance, with no p-value"
    # The reference: once per version from the operator (both policies watch the model, one
    # reads it), never from the serving pods that Prometheus scrapes.
    version = {"namespace": namespace, "model": shifting.MODEL, "version": champion}
    assert [value for _, value in _operator_samples(text, "ballast_reference_rows", **version)] == [
        400.0  # the rows of the Dataset serve_first_model trains on
    ]
    scraped = prometheus.api("/api/v1/label/__name__/values", **{"match[]": selector})
    assert scraped and not [name for name in scraped if name.startswith("ballast_reference_")], scraped
    assert _operator_samples(text, "ballast_drift_firings_total", **mine) == [({**mine, "action": "notify"}, 1.0)]
    assert not _operator_samples(text, "ballast_drift_score", namespace=namespace, policy=UNREACHABLE)

    # The policy whose Prometheus does not answer: not ready after its first retry, also
    # between retries; said in an Event, not again at every retry; never a verdict; never an
    # error in the operator's log.
    readies = [
        (
            parse_time(s["lastEvaluationTime"]),
            (condition({"status": s}, "Ready").get("status"), condition({"status": s}, "Ready").get("reason")),
        )
        for s in broken_seen
        if s.get("lastEvaluationTime")
    ]
    retried = [(at, ready) for at, ready in readies if at > readies[0][0]]
    assert {ready for _, ready in retried} == {("False", "PrometheusUnreachable")}, readies
    assert len({at for at, _ in retried}) >= 3, f"fewer than three retries seen: {readies}"
    broken = k.get_json("driftpolicy", UNREACHABLE)
    ready, drifting = condition(broken, "Ready"), condition(broken, "Drifting")
    assert (ready["status"], ready["reason"]) == ("False", "PrometheusUnreachable"), broken["status"]
    assert unreachable_url in ready["message"], ready
    assert (drifting["status"], drifting["reason"]) == ("Unknown", "PrometheusUnreachable"), broken["status"]
    assert broken["status"].get("verdict") in (None, "NotEnoughData") and not broken["status"].get("firings"), broken[
        "status"
    ]
    events = _events(k, UNREACHABLE, "PrometheusUnreachable")
    assert events and {e["type"] for e in events} == {"Warning"}, events
    last = broken["status"]["lastEvaluationTime"]
    wait_for(
        lambda: _status(k, UNREACHABLE)["lastEvaluationTime"] != last,
        timeout=INTERVAL + 5,
        interval=0.3,
        message="the unreachable policy retried",
    )
    assert condition(k.get_json("driftpolicy", UNREACHABLE), "Ready")["reason"] == "PrometheusUnreachable"
    assert len(_events(k, UNREACHABLE, "PrometheusUnreachable")) == len(events), "an Event at every retry"
    assert ballast_operator.log_problems() == []

    print(
        f"\n  model trained and serving in {served_in:.0f}s; drift through Prometheus: {len(calm)} evaluations over "
        f"{len({s['windowStart'] for s in judged})} calm windows without firing; fired "
        f"{fired_at - onset:.1f}s after the shift (interval {INTERVAL}s, window {PERIOD}s, scrape {SCRAPE}s): "
        f"{firing['reason'][:90]}"
    )


@pytest.fixture
def own_namespace(kubectl: Kubectl) -> Iterator[str]:
    """Outside the session operator's pattern: the operator this test restarts is its only one."""
    yield from make_namespace(kubectl, prefix="restart-")


def _judged_after(k: Kubectl, name: str, previous: str | None) -> dict | None:
    """The policy's status once an evaluation later than `previous` judged rows, else None."""
    status = _status(k, name)
    evaluated = status.get("lastEvaluationTime")
    if not evaluated or status.get("samples", 0) == 0:
        return None
    return status if previous is None or parse_time(evaluated) > parse_time(previous) else None


def test_a_restarted_operator_goes_on_with_the_window_prometheus_kept(
    kubectl: Kubectl, kubeconfig: Path, own_namespace: str, crds, tmp_path: Path
):
    """The counts are in Prometheus and the window's start is in status: an operator that
    restarts judges the same window, grown, instead of starting an empty one."""
    k = kubectl.in_namespace(own_namespace)
    config = serving_pods_config(kubeconfig, own_namespace, f"{SCRAPE}s")
    operator = OperatorProcess(
        kubeconfig, tmp_path / "operator.log", store_dir=shared_store_dir(), namespaces=(own_namespace,)
    )
    with running_prometheus(tmp_path / "prometheus", config=config) as prometheus, operator:
        champion = serve_first_model(k)
        selector = series_selector(own_namespace, shifting.MODEL, champion)
        with shifting_traffic(k, shifted=False, max_rows_per_second=ROWS_PER_SECOND):
            wait_for(
                lambda: prometheus.api("/api/v1/query", query=f"ballast_serving_rows_total{selector} > 0")["result"],
                timeout=30,
                interval=0.5,
                message="Prometheus has scraped the traffic",
            )
            policy = notify_policy(POLICY, prometheus.url)
            policy["spec"]["window"] = {"minSamples": 50, "period": "10m"}
            k.apply(policy)
            before = wait_for(
                lambda: _judged_after(k, POLICY, None), timeout=60, interval=0.3, message="a judged window"
            )
            operator.kill()
            time.sleep(2 * INTERVAL)
            operator.start()
            after = wait_for(
                lambda: _judged_after(k, POLICY, before["lastEvaluationTime"]),
                timeout=30,
                interval=0.3,
                message="an evaluation by the restarted operator",
            )
        assert after["windowStart"] == before["windowStart"], (before["windowStart"], after["windowStart"])
        assert after["verdict"] == "NoDrift" and after["samples"] > before["samples"], (before, after)
        k.run("delete", "namespace", own_namespace, "--wait=false")
        wait_for(
            lambda: kubectl.run("get", "namespace", own_namespace, check=False).returncode != 0,
            timeout=90,
            interval=1,
            message="the namespace gone while its operator runs",
        )
    assert operator.log_problems() == []
    print(
        f"\n  restart: the window that started at {before['windowStart']} went on from "
        f"{before['samples']} to {after['samples']} rows"
    )
