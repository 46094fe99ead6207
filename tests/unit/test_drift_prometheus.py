"""Reading a drift window from Prometheus, without Prometheus: the queries, the parsing of
the HTTP API's answers into a Window, the errors, and the contract with the model server
(what it exports is exactly what the queries select and keep). The same module against a
real Prometheus: tests/integration/test_drift_prometheus.py."""

from __future__ import annotations

import json
import re
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ballast.drift import prometheus
from ballast.drift.counters import IDENTITY_LABELS, parse_metrics, series_key, window_between
from ballast.drift.prometheus import (
    OWN_LABELS,
    PrometheusBadResponse,
    PrometheusError,
    PrometheusNoData,
    PrometheusUnreachable,
    count_query,
    counted_names,
    names_selector,
    response_data,
    series_selector,
    server_le,
    vector_samples,
    window_from_prometheus,
    window_from_results,
    window_range,
)
from ballast.net.egress import EgressPolicy
from tests.support.net import free_port
from tests.unit.test_serving_harness import (
    diabetes_frame,
    mixed_frame,
    named_inputs,
    running_server,
    trained_model,
)

LOOPBACK = EgressPolicy.from_strings(allow=["127.0.0.1"])  # the test servers listen there
BUCKET = "ballast_feature_value_bucket"


def answer(result: list[dict], result_type: str = "vector") -> str:
    return json.dumps({"status": "success", "data": {"resultType": result_type, "result": result}})


def element(value: float, **labels: str) -> dict:
    return {"metric": labels, "value": [1767225600.0, repr(value)]}


# --- queries ---------------------------------------------------------------------------------


def test_the_selector_names_the_namespace_model_and_version_and_quotes_what_it_must():
    assert series_selector("prod", "churn", "a1b2") == '{namespace="prod",model="churn",version="a1b2"}'
    assert series_selector("p", 'we"ird\\', "é😀", namespace_label="kubernetes_namespace") == (
        '{kubernetes_namespace="p",model="we\\"ird\\\\",version="é😀"}'
    )


def test_the_counts_are_increases_summed_by_the_servers_own_labels_and_sums_are_deltas():
    selector, range_ = series_selector("ns", "m", "v"), window_range(0, 300)
    assert range_ == "300000ms"
    assert count_query(BUCKET, selector, range_) == (
        "sum by (feature, category, le, class, result, true_class, predicted_class, group) "
        '(increase(ballast_feature_value_bucket{namespace="ns",model="m",version="v"}[300000ms]))'
    )
    assert count_query("ballast_prediction_value_sum", selector, range_).startswith(
        "sum by (feature, category, le, class, result, true_class, predicted_class, group) (delta("
    )
    assert names_selector(selector).startswith('{__name__=~"ballast_feature_.+|') and names_selector(selector).endswith(
        ',namespace="ns",model="m",version="v"}'
    )


def test_a_window_is_whole_milliseconds_and_must_end_after_it_starts():
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert window_range(start, start + timedelta(minutes=5, microseconds=400)) == "300000ms"
    assert window_range(10.0, 10.0015) == "2ms"
    with pytest.raises(ValueError):
        window_range(start, start)
    with pytest.raises(ValueError, match="time zone"):
        window_range(datetime(2026, 1, 1), datetime(2026, 1, 2))


def test_only_counts_are_counted_and_a_gauge_named_sum_is_not_a_histograms_sum():
    names = [
        "ballast_feature_value_bucket",
        "ballast_feature_value_count",
        "ballast_feature_value_sum",
        "ballast_feature_value_created",
        "ballast_feedback_error_sum",  # a gauge, as servers before ballast_feedback_signed_error named it
        "ballast_feedback_signed_error",
        "ballast_feedback_rows_total",
        "ballast_serving_rows_total",
        "ballast_reference_rows",
        "ballast_reference_feature_bin_ratio",
    ]
    assert counted_names(names) == [
        "ballast_feature_value_bucket",
        "ballast_feature_value_count",
        "ballast_feature_value_sum",
        "ballast_feedback_rows_total",
        "ballast_serving_rows_total",
    ]


# --- answers ---------------------------------------------------------------------------------


def test_le_is_spelled_as_the_server_spells_it_whatever_prometheus_made_of_it():
    # Prometheus 3 rewrites `le` with Go's strconv.FormatFloat(f, 'g', -1, 64) (plus ".0");
    # prometheus_client's floatToGoString imitates Go only for positive values. The same
    # float, two spellings; the reference's `bin` has the server's.
    assert server_le("-2.5e+06") == "-2500000.0"
    assert server_le("1e+07") == "1e+07"
    assert server_le("5.270000000000001") == "5.270000000000001"
    assert server_le("1") == "1.0" and server_le("+Inf") == "+Inf"


def test_the_answers_become_the_window_scraping_gives():
    counts = {
        BUCKET: vector_samples(
            json.loads(answer([element(3.0, feature="x", le="-2.5e+06"), element(7.0, feature="x", le="+Inf")]))[
                "data"
            ],
            "q",
        ),
        "ballast_serving_rows_total": [({}, 7.0)],
    }
    window = window_from_results(counts, pods=2.0, restarted_pods=0.0)
    assert window.counts == {
        series_key(BUCKET, {"feature": "x", "le": "-2500000.0"}): 3.0,
        series_key(BUCKET, {"feature": "x", "le": "+Inf"}): 7.0,
        ("ballast_serving_rows_total", ()): 7.0,
    }
    assert window.rows == 7.0 and (window.pods, window.restarted_pods) == (2, 0)
    assert window.reference == {}, "the operator's own copy of the version's reference, never Prometheus's"


def test_a_nan_from_prometheus_is_refused_not_judged():
    with pytest.raises(PrometheusBadResponse, match="nan"):
        window_from_results({BUCKET: [({"feature": "x", "le": "1.0"}, float("nan"))]}, 1, 0)


@pytest.mark.parametrize(
    "body, message",
    [
        ("<html>sign in</html>", "not JSON"),
        ('{"data": []}', "not a Prometheus API answer"),
        ('{"status": "error", "errorType": "bad_data", "error": "parse error at char 3"}', r"error \(bad_data\)$"),
        ('{"status": "success"}', "without data"),
    ],
)
def test_answers_that_are_not_successful_api_answers_are_bad_responses(body, message):
    with pytest.raises(PrometheusBadResponse, match=message) as raised:
        response_data(body, "the query")
    assert raised.value.reason == "PrometheusBadResponse" and isinstance(raised.value, PrometheusError)


@pytest.mark.parametrize(
    "data",
    [
        {"resultType": "matrix", "result": []},
        {"resultType": "vector", "result": [{"metric": {}}]},
        {"resultType": "vector", "result": [{"metric": {}, "value": [1, "not a number"]}]},
        ["not", "a", "vector"],
    ],
)
def test_a_result_that_is_not_an_instant_vector_is_a_bad_response(data):
    with pytest.raises(PrometheusBadResponse):
        vector_samples(data, "the query")


# --- the HTTP side, without a Prometheus ---------------------------------------------------------


def test_nothing_listening_is_unreachable():
    with pytest.raises(PrometheusUnreachable) as raised:
        window_from_prometheus(f"http://127.0.0.1:{free_port()}", "ns", "m", "v", 0, 300, timeout=2, egress=LOOPBACK)
    assert raised.value.reason == "PrometheusUnreachable" and "refused" in str(raised.value).lower()


def test_a_server_that_never_answers_is_unreachable_after_the_timeout():
    with socket.socket() as silent:  # accepts connections (the kernel does) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        with pytest.raises(PrometheusUnreachable, match="timed out"):
            window_from_prometheus(
                f"http://127.0.0.1:{silent.getsockname()[1]}", "ns", "m", "v", 0, 300, timeout=0.5, egress=LOOPBACK
            )


# --- the contract with a real model server -------------------------------------------------------


@pytest.fixture(scope="module")
def servers_models(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("prometheus-contract")
    return {
        "mixed": trained_model(
            root, "mixed", mixed_frame(), "sklearn.linear_model.LogisticRegression", {"max_iter": 2000}
        ),
        "diabetes": trained_model(root, "diabetes", diabetes_frame(), "sklearn.linear_model.Ridge"),
    }


@pytest.mark.parametrize("model", ["mixed", "diabetes"])  # a classifier and a regressor: every family
def test_the_queries_select_and_keep_exactly_what_scraping_keeps(servers_models, model, tmp_path: Path):
    """What Prometheus stores of a scrape is its samples by name (it keeps no types): the names
    query must find every counted family, `counted_names` must keep exactly the samples
    `parse_metrics` counts, and `sum by` must keep every label that tells them apart."""
    trained = servers_models[model]
    with running_server(trained, tmp_path) as server:
        client = server.client()
        rows = trained.frame.drop(columns="target").iloc[:30]
        inputs = named_inputs(rows, trained.columns)
        status, body = client.post(f"/v2/models/{model}/infer", {"id": "r", "inputs": inputs})
        assert status == 200, body
        labels = trained.frame["target"].iloc[:30].tolist()
        status, body = client.post(f"/v2/models/{model}/feedback", {"id": "r", "labels": labels})
        assert status == 200, body
        text = server.metrics()
    samples = [sample for family in text_string_to_metric_families(text) for sample in family.samples]
    names = sorted({sample.name for sample in samples if re.fullmatch(prometheus.NAMES_PATTERN, sample.name)})
    reading = parse_metrics(text)
    assert counted_names(names) == sorted({key[0] for key in reading.counters})
    assert not reading.reference, "the reference is at its own path, for the operator to export once"
    for sample in samples:
        if sample.name in counted_names(names):
            assert set(sample.labels) <= set(OWN_LABELS) | IDENTITY_LABELS, sample


def test_the_answers_of_the_queries_make_the_window_between_two_scrapes(servers_models, tmp_path: Path):
    """The Window the parsing builds from answers shaped as Prometheus shapes them (the labels
    of `sum by`, no name) is the Window of the same counts read directly."""
    trained = servers_models["mixed"]
    with running_server(trained, tmp_path) as server:
        start = parse_metrics(server.metrics())
        rows = trained.frame.drop(columns="target").iloc[:40]
        assert server.client().post("/v2/models/mixed/infer", {"inputs": named_inputs(rows, trained.columns)})[0] == 200
        now = parse_metrics(server.metrics())
    direct = window_between({"pod": start}, {"pod": now})
    by_name: dict[str, list[dict]] = {}
    for (name, labels), value in direct.counts.items():
        by_name.setdefault(name, []).append(element(value, **dict(labels)))
    counts = {name: vector_samples(json.loads(answer(result))["data"], name) for name, result in by_name.items()}
    assert window_from_results(counts, pods=1, restarted_pods=0) == direct


def test_a_wrong_url_is_a_bad_response_not_no_data(servers_models, tmp_path: Path):
    """The model server itself is an HTTP server that is not Prometheus: a wrong URL."""
    with running_server(servers_models["mixed"], tmp_path) as server:
        with pytest.raises(PrometheusBadResponse, match="HTTP 404"):
            window_from_prometheus(
                f"http://127.0.0.1:{server.port}", "ns", "mixed", "v", 0, 300, timeout=5, egress=LOOPBACK
            )


def test_no_data_is_its_own_reason():
    assert PrometheusNoData("x").reason == "PrometheusNoData" and issubclass(PrometheusNoData, PrometheusError)
