"""The reference distribution exported once per model version by the operator, read once from
one of its pods: not once per pod, and not read again at every evaluation."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from ballast.build.serving import REFERENCE_PATH
from ballast.canary.scrape import scrape_by_address
from ballast.drift.counters import parse_metrics, series_key
from ballast.handlers import driftpolicy
from ballast.reference_metrics import ReferenceGauges
from tests.unit.test_serving_harness import mixed_frame, running_server, trained_model

ROWS = series_key("ballast_reference_rows", {})
BIN = series_key("ballast_reference_feature_bin_ratio", {"feature": "x", "bin": "1.0"})


def exported(gauges: ReferenceGauges) -> list[tuple[str, dict[str, str], float]]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(gauges)
    text = generate_latest(registry).decode()
    samples = [sample for family in text_string_to_metric_families(text) for sample in family.samples]
    return [
        (sample.name, sample.labels, sample.value)
        for sample in sorted(samples, key=lambda sample: (sample.name, sorted(sample.labels.items())))
    ]


class Reads:
    """A pod read that counts its calls."""

    def __init__(self, *answers: dict) -> None:
        self.answers, self.calls = list(answers), 0

    def __call__(self) -> dict:
        self.calls += 1
        return self.answers.pop(0)


def test_a_version_is_read_once_whichever_policy_asks_and_a_new_version_replaces_it():
    gauges = ReferenceGauges()
    read = Reads({ROWS: 500.0, BIN: 0.25}, {ROWS: 800.0})
    assert gauges.reference_of("ml", "drift-a", "credit", "v1", read) == {ROWS: 500.0, BIN: 0.25}
    assert gauges.reference_of("ml", "drift-b", "credit", "v1", read) == {ROWS: 500.0, BIN: 0.25}
    assert gauges.reference_of("ml", "drift-a", "credit", "v1", read) == {ROWS: 500.0, BIN: 0.25}
    assert read.calls == 1
    assert gauges.reference_of("ml", "drift-a", "credit", "v2", read) == {ROWS: 800.0}
    assert read.calls == 2
    assert [(name, labels["version"]) for name, labels, _ in exported(gauges)] == [("ballast_reference_rows", "v2")]


def test_a_read_that_found_nothing_is_read_again():
    gauges = ReferenceGauges()
    read = Reads({}, {ROWS: 500.0})
    assert gauges.reference_of("ml", "drift", "credit", "v1", read) == {}
    assert exported(gauges) == []
    assert gauges.reference_of("ml", "drift", "credit", "v1", read) == {ROWS: 500.0}
    assert read.calls == 2


def test_exported_once_with_the_version_labels_until_no_policy_watches_the_model():
    gauges = ReferenceGauges()
    reference = {ROWS: 500.0, BIN: 0.25, series_key("ballast_reference_novel", {"x": "1"}): 1.0}
    gauges.reference_of("ml", "drift-a", "credit", "v1", lambda: reference)
    gauges.reference_of("ml", "drift-b", "credit", "v1", lambda: {})
    gauges.reference_of("other", "drift-a", "credit", "v9", lambda: {ROWS: 10.0})
    version = {"namespace": "ml", "model": "credit", "version": "v1"}
    assert exported(gauges) == [
        ("ballast_reference_feature_bin_ratio", {**version, "feature": "x", "bin": "1.0"}, 0.25),
        ("ballast_reference_rows", version, 500.0),
        ("ballast_reference_rows", {"namespace": "other", "model": "credit", "version": "v9"}, 10.0),
    ]
    gauges.forget("ml", "drift-a")
    assert len(exported(gauges)) == 3  # drift-b still watches it
    gauges.forget("ml", "drift-b")
    assert [labels["namespace"] for _, labels, _ in exported(gauges)] == ["other"]


def test_the_operator_exports_what_a_real_server_answers_at_its_reference_path(tmp_path: Path, monkeypatch):
    trained = trained_model(tmp_path, "mixed", mixed_frame(), "sklearn.linear_model.LogisticRegression", {})
    with running_server(trained, tmp_path) as server:
        address = f"127.0.0.1:{server.port}"
        # the handler's read, at the test server's port instead of the pods' fixed one
        monkeypatch.setattr(driftpolicy, "scrape_by_address", partial(scrape_by_address, port=None))
        reference = driftpolicy._read_reference(["127.0.0.1:9", address])
        served = server.metrics(REFERENCE_PATH)
    assert reference and reference == parse_metrics(served).reference
    gauges = ReferenceGauges()
    gauges.reference_of("ml", "drift", "mixed", "v1", lambda: reference)
    ours = {(name, tuple(sorted(labels.items()))): value for name, labels, value in exported(gauges)}
    theirs = {
        (sample.name, tuple(sorted({**sample.labels, "namespace": "ml", "version": "v1"}.items()))): sample.value
        for family in text_string_to_metric_families(served)
        for sample in family.samples
    }
    assert ours == theirs
