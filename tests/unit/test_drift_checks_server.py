"""Drift from a real model server's /metrics: windows between readings, judged by the
DriftPolicy checks against the reference the server exports, on a model trained here (mixed
numeric and categorical features, missing values)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from ballast.api.driftpolicy import DriftChecks
from ballast.build.serving import REFERENCE_PATH
from ballast.drift.counters import parse_metrics, window_between
from ballast.drift.evaluation import evaluate
from ballast.reasons.driftpolicy import Verdict
from tests.unit.test_serving_harness import mixed_frame, named_inputs, running_server, trained_model

ALL_CHECKS = {"estimatedAccuracy": {"enabled": True, "maxDrop": 0.1}, "accuracy": {"minLabels": 50}}


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> object:
    return trained_model(
        tmp_path_factory.mktemp("drift"),
        "mixed",
        mixed_frame(),
        "sklearn.linear_model.LogisticRegression",
        {"max_iter": 2000},
    )


def _send(client, trained, rows, labels=None) -> None:
    for start in range(0, len(rows), 50):
        batch = rows.iloc[start : start + 50]
        status, answer = client.post(
            "/v2/models/mixed/infer", {"id": f"r{start}", "inputs": named_inputs(batch, trained.columns)}
        )
        assert status == 200, answer
        if labels is not None:
            status, answer = client.post(
                "/v2/models/mixed/feedback", {"id": f"r{start}", "labels": labels.iloc[start : start + 50].tolist()}
            )
            assert status == 200, answer


def _window(server, action):
    start = {"pod": parse_metrics(server.metrics())}
    action()
    window = window_between(start, {"pod": parse_metrics(server.metrics())})
    return replace(window, reference=parse_metrics(server.metrics(REFERENCE_PATH)).reference)


def test_training_like_traffic_passes_every_check_and_shifted_traffic_fails_them(mixed, tmp_path: Path):
    frame = mixed.frame.sample(400, replace=True, random_state=1)
    features, labels = frame.drop(columns="target"), frame["target"]
    shifted = features.copy()
    shifted["mean_radius"] = shifted["mean_radius"] * 1.6
    shifted["mean_texture"] = shifted["mean_texture"] * 1.6
    shifted["clinic"] = "west"  # never seen in training
    with running_server(mixed, tmp_path) as server:
        client = server.client()
        steady = _window(server, lambda: _send(client, mixed, features, labels))
        drifting = _window(server, lambda: _send(client, mixed, shifted, 1 - labels))  # and the labels flip

    calm = evaluate(
        steady,
        DriftChecks.model_validate(ALL_CHECKS),
        min_samples=100,
        offline_accuracy=mixed.metadata["metrics"]["accuracy"],
    )
    assert calm.verdict == Verdict.NO_DRIFT, calm.summary()
    assert {check.name: check.verdict for check in calm.checks} == {
        "featureDrift": Verdict.NO_DRIFT,
        "predictionDrift": Verdict.NO_DRIFT,
        "integrity": Verdict.NO_DRIFT,
        "accuracy": Verdict.NO_DRIFT,
        "estimatedAccuracy": Verdict.NO_DRIFT,
        "errorRates": Verdict.NO_DRIFT,
    }
    assert calm.rows == 400

    moved = evaluate(
        drifting,
        DriftChecks.model_validate(ALL_CHECKS | {"featureDrift": {"driftedShare": 0.05}}),
        min_samples=100,
        offline_accuracy=mixed.metadata["metrics"]["accuracy"],
    )
    verdicts = {check.name: check for check in moved.checks}
    assert moved.verdict == Verdict.DRIFT
    drifted = {f.feature for f in moved.features if f.drifted}
    assert {"mean_radius", "mean_texture", "clinic"} <= drifted, moved.summary()
    assert "mean_smoothness" not in drifted  # untouched features stay calm
    assert verdicts["integrity"].verdict == Verdict.DRIFT and "unseen" in verdicts["integrity"].message
    assert verdicts["accuracy"].verdict == Verdict.DRIFT and verdicts["accuracy"].score < verdicts["accuracy"].threshold
    assert verdicts["errorRates"].verdict == Verdict.DRIFT  # flipped labels: every class's errors rise


def test_the_fast_parser_reads_a_real_servers_metrics_as_prometheus_clients_parser_does(mixed, tmp_path: Path):
    from tests.unit.test_drift_counters import parse_with_prometheus_client

    with running_server(mixed, tmp_path) as server:
        _send(server.client(), mixed, mixed.frame.sample(100, random_state=3).drop(columns="target"))
        text = server.metrics() + server.metrics(REFERENCE_PATH)
    fast, oracle = parse_metrics(text), parse_with_prometheus_client(text)
    assert fast == oracle
    assert len(fast.counters) > 100 and len(fast.reference) > 50


def test_too_few_rows_is_not_enough_data_rather_than_no_drift(mixed, tmp_path: Path):
    rows = mixed.frame.drop(columns="target").iloc[:20]
    with running_server(mixed, tmp_path) as server:
        window = _window(server, lambda: _send(server.client(), mixed, rows))
    evaluation = evaluate(window, None, min_samples=100, offline_accuracy=mixed.metadata["metrics"]["accuracy"])
    assert evaluation.verdict == Verdict.NOT_ENOUGH_DATA
    assert {check.verdict for check in evaluation.checks} == {Verdict.NOT_ENOUGH_DATA}
