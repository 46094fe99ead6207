"""Windows between readings of the model server's counters, summed over pods."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ballast.drift.counters import ROWS, Reading, parse_metrics, series_key, window_between

BUCKET = "ballast_feature_value_bucket"


def reading(rows: float, low: float, reference: float = 0.5) -> Reading:
    return Reading(
        counters={
            (ROWS, ()): rows,
            series_key(BUCKET, {"feature": "x", "le": "1.0"}): low,
            series_key(BUCKET, {"feature": "x", "le": "+Inf"}): rows,
        },
        reference={series_key("ballast_reference_feature_bin_ratio", {"feature": "x", "bin": "1.0"}): reference},
    )


def test_a_window_is_the_increase_on_each_pod_summed_over_pods():
    window = window_between({"a": reading(100, 40), "b": reading(10, 5)}, {"a": reading(150, 60), "b": reading(30, 10)})
    assert window.rows == 70
    assert window.counts[series_key(BUCKET, {"feature": "x", "le": "1.0"})] == 25
    assert (window.pods, window.restarted_pods) == (2, 0)


def test_a_pod_whose_counters_fell_restarted_and_counts_from_zero_without_going_negative():
    window = window_between(
        {"a": reading(100, 40), "b": reading(500, 200)}, {"a": reading(150, 60), "b": reading(20, 5)}
    )
    assert window.rows == 50 + 20
    assert window.restarted_pods == 1
    assert all(value >= 0 for value in window.counts.values())


def test_a_pod_that_appeared_during_the_window_counts_whole_and_one_that_left_is_dropped():
    window = window_between({"gone": reading(100, 40)}, {"new": reading(30, 12)})
    assert window.rows == 30 and window.restarted_pods == 1


def test_the_reference_is_kept_once_never_summed_over_pods():
    window = window_between({}, {"a": reading(1, 1), "b": reading(1, 1)})
    assert list(window.reference.values()) == [0.5]


def test_parsing_keeps_counts_and_reference_drops_identity_labels_and_creation_stamps():
    # as prometheus_client's text exposition writes them
    text = """# TYPE ballast_serving_rows_total counter
ballast_serving_rows_total{model="m",version="v"} 12.0
# TYPE ballast_serving_rows_created gauge
ballast_serving_rows_created{model="m",version="v"} 1.7e9
# TYPE ballast_serving_requests_total counter
ballast_serving_requests_total{model="m",version="v",endpoint="infer",code="200"} 3.0
# TYPE ballast_reference_rows gauge
ballast_reference_rows{model="m",version="v"} 569.0
"""
    parsed = parse_metrics(text)
    assert parsed.counters == {(ROWS, ()): 12.0}  # request counters are canary analysis's business
    assert parsed.reference == {("ballast_reference_rows", ()): 569.0}


def parse_with_prometheus_client(text: str) -> Reading:
    """The oracle: the same selection of series, read by prometheus_client's own parser."""
    from prometheus_client.parser import text_string_to_metric_families

    from ballast.drift.counters import COUNTED_FAMILY_PREFIXES, COUNTED_TYPES, REFERENCE_PREFIX

    counters, reference = {}, {}
    for family in text_string_to_metric_families(text):
        if family.name.startswith(REFERENCE_PREFIX):
            reference.update({series_key(s.name, s.labels): s.value for s in family.samples})
        elif family.type in COUNTED_TYPES and family.name.startswith(COUNTED_FAMILY_PREFIXES):
            counters.update(
                {series_key(s.name, s.labels): s.value for s in family.samples if not s.name.endswith("_created")}
            )
    return Reading(counters, reference)


@settings(max_examples=60, deadline=None)
@given(
    categories=st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=6, unique=True),
    counts=st.lists(st.integers(min_value=0, max_value=10**9), min_size=6, max_size=6),
)
def test_the_fast_parser_reads_what_prometheus_clients_parser_reads_even_with_escaped_labels(categories, counts):
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

    registry = CollectorRegistry()
    category = Counter("ballast_feature_category", "c", ["model", "version", "feature", "category"], registry=registry)
    values = Histogram(
        "ballast_feature_value", "h", ["model", "version", "feature"], buckets=(0.5, 1.5), registry=registry
    )
    ratio = Gauge("ballast_reference_feature_bin_ratio", "r", ["model", "version", "feature", "bin"], registry=registry)
    ignored = Gauge("ballast_serving_ready", "g", ["model", "version"], registry=registry)
    for name, count in zip(categories, counts):
        category.labels("m", "v", 'f"\\\n', name).inc(count)
        ratio.labels("m", "v", "f", name).set(count / 10**9)
        values.labels("m", "v", name).observe(count % 3)
    ignored.labels("m", "v").set(1)
    text = generate_latest(registry).decode()
    assert parse_metrics(text) == parse_with_prometheus_client(text)
