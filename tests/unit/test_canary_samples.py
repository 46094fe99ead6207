import math

from ballast.canary.analysis import analyse
from ballast.canary.samples import Sample, quantile, sample_from_scrapes, window

POD = """
# TYPE ballast_serving_requests_total counter
ballast_serving_requests_total{model="iris",version="v",endpoint="infer",code="200"} 90.0
ballast_serving_requests_total{model="iris",version="v",endpoint="infer",code="400"} 5.0
ballast_serving_requests_total{model="iris",version="v",endpoint="infer",code="500"} 5.0
ballast_serving_requests_total{model="iris",version="v",endpoint="health",code="500"} 7.0
# TYPE ballast_serving_request_duration_seconds histogram
ballast_serving_request_duration_seconds_bucket{model="iris",version="v",endpoint="infer",le="0.001"} 50.0
ballast_serving_request_duration_seconds_bucket{model="iris",version="v",endpoint="infer",le="0.01"} 99.0
ballast_serving_request_duration_seconds_bucket{model="iris",version="v",endpoint="infer",le="+Inf"} 100.0
ballast_serving_request_duration_seconds_count{model="iris",version="v",endpoint="infer"} 100.0
ballast_serving_request_duration_seconds_sum{model="iris",version="v",endpoint="infer"} 0.3
# TYPE ballast_feedback_confusion_total counter
ballast_feedback_confusion_total{model="iris",version="v",true_class="a",predicted_class="a"} 8.0
ballast_feedback_confusion_total{model="iris",version="v",true_class="a",predicted_class="b"} 2.0
"""


def test_infer_traffic_of_every_pod_is_summed_and_only_5xx_count_as_errors():
    sample = sample_from_scrapes([POD, POD])
    # 4xx are the client's: neither errors nor requests (2 x (90 + 5), the 500s included).
    assert (sample.requests, sample.server_errors) == (190.0, 10.0)
    assert sample.latency_buckets == {0.001: 100.0, 0.01: 198.0, math.inf: 200.0}
    assert (sample.feedback, sample.feedback_correct) == (20.0, 16.0)


def test_a_window_is_the_difference_and_a_reset_counter_counts_from_zero():
    start = Sample(requests=150, server_errors=1, latency_buckets={1.0: 150}, feedback=10, feedback_correct=9)
    assert window(Sample(requests=200, server_errors=3, latency_buckets={1.0: 200}), start).requests == 50
    after_restart = window(Sample(requests=20, latency_buckets={1.0: 20}), start)
    assert after_restart.requests == 20 and after_restart.latency_buckets == {1.0: 20}


def test_status_round_trip_keeps_infinite_buckets():
    sample = sample_from_scrapes([POD])
    assert Sample.from_status(sample.to_status()) == sample


def test_quantile_interpolates_like_histogram_quantile():
    buckets = {0.1: 50.0, 0.2: 100.0, math.inf: 100.0}
    assert quantile(0.5, buckets) == 0.1
    assert abs(quantile(0.75, buckets) - 0.15) < 1e-12
    assert quantile(0.99, {0.1: 10.0, math.inf: 100.0}) == 0.1  # past the last finite bound
    assert quantile(0.99, {}) is None


def _infer_counts(ok: int, client_errors: int, server_errors: int) -> str:
    return "\n".join(
        [
            "# TYPE ballast_serving_requests_total counter",
            f'ballast_serving_requests_total{{model="m",version="v",endpoint="infer",code="200"}} {ok}.0',
            f'ballast_serving_requests_total{{model="m",version="v",endpoint="infer",code="400"}} {client_errors}.0',
            f'ballast_serving_requests_total{{model="m",version="v",endpoint="infer",code="413"}} {client_errors}.0',
            f'ballast_serving_requests_total{{model="m",version="v",endpoint="infer",code="500"}} {server_errors}.0',
            "",
        ]
    )


def test_malformed_requests_neither_fail_a_canary_nor_hide_its_faults():
    """Issue 12, row 5: three malformed requests once failed a canary step; junk must not pass one either."""
    production = sample_from_scrapes([_infer_counts(100, 0, 0)])
    junk = analyse(sample_from_scrapes([_infer_counts(100, 500, 0)]), production, {})
    assert junk.verdict == "Pass", junk
    # Two 500s in 100 requests fail a 1% limit however many 4xx a client adds to the window.
    faulty = analyse(sample_from_scrapes([_infer_counts(98, 5000, 2)]), production, {"maxErrorRate": 0.01})
    assert faulty.verdict == "Fail" and faulty.checks[0].value == 0.02, faulty
    # Nor do 4xx make up the evidence a step needs.
    assert analyse(sample_from_scrapes([_infer_counts(5, 500, 0)]), production, {}).verdict == "NotEnoughData"
