"""Drift from a real model server's /metrics: windows of scrapes compared with the reference
the server exports, on a model trained here (mixed numeric and categorical features)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ballast.drift.scraped import Snapshot, evaluate, snapshot_from_scrapes, window
from tests.unit.test_serving_harness import mixed_frame, named_inputs, running_server, trained_model


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> object:
    return trained_model(tmp_path_factory.mktemp("drift"), "mixed", mixed_frame(),
                         "sklearn.linear_model.LogisticRegression")


def _send(client, trained, rows) -> None:
    for start in range(0, len(rows), 50):
        status, answer = client.post("/v2/models/mixed/infer",
                                     {"inputs": named_inputs(rows.iloc[start:start + 50], trained.columns)})
        assert status == 200, answer


def _by_feature(results):
    return {result.feature: result for result in results}


def test_training_like_traffic_does_not_drift_and_shifted_traffic_does(mixed, tmp_path: Path):
    features = mixed.frame.drop(columns="target")
    with running_server(mixed, tmp_path) as server:
        client = server.client()
        start = snapshot_from_scrapes([server.metrics()])
        _send(client, mixed, features.sample(400, replace=True, random_state=1))
        steady = window(snapshot_from_scrapes([server.metrics()]), start)

        shifted = features.sample(400, replace=True, random_state=2).copy()
        shifted["mean_radius"] = shifted["mean_radius"] * 1.6
        shifted["clinic"] = "west"  # never seen in training
        before = snapshot_from_scrapes([server.metrics()])
        _send(client, mixed, shifted)
        drifting = window(snapshot_from_scrapes([server.metrics()]), before)

    calm = _by_feature(evaluate(steady, numeric_method="psi", categorical_method="psi"))
    assert calm["mean_radius"].verdict.drifted is False and calm["clinic"].verdict.drifted is False
    assert calm["mean_radius"].rows == pytest.approx(400 - features.sample(400, replace=True, random_state=1)
                                                     ["mean_radius"].isna().sum())
    moved = _by_feature(evaluate(drifting, numeric_method="psi", categorical_method="chiSquare"))
    assert moved["mean_radius"].verdict.drifted is True, moved["mean_radius"].verdict
    assert moved["clinic"].verdict.drifted is True, moved["clinic"].verdict
    assert moved["mean_texture"].verdict.drifted is False  # untouched features stay calm


def test_a_counter_reset_counts_the_window_from_zero_and_never_goes_negative():
    start = Snapshot(numeric={"x": {"1.0": 50.0, "+Inf": 100.0}}, reference={"x": {"1.0": 0.5, "+Inf": 0.5}})
    restarted = Snapshot(numeric={"x": {"1.0": 5.0, "+Inf": 10.0}}, reference=start.reference)
    assert window(restarted, start).numeric == {"x": {"1.0": 5.0, "+Inf": 10.0}}


def test_an_empty_window_is_not_enough_data_rather_than_no_drift():
    reference = {"x": {"1.0": 0.5, "+Inf": 0.5}}
    empty = Snapshot(numeric={"x": {"1.0": 0.0, "+Inf": 0.0}}, reference=reference)
    [result] = evaluate(empty)
    assert result.verdict.drifted is None and result.verdict.score is None


def test_the_reference_is_taken_once_even_with_many_pods():
    text = ('# TYPE ballast_reference_feature_bin_ratio gauge\n'
            'ballast_reference_feature_bin_ratio{model="m",version="v",feature="x",bin="1.0"} 0.25\n')
    assert snapshot_from_scrapes([text, text]).reference == {"x": {"1.0": 0.25}}
