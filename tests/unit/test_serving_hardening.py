"""The model server against a hostile client (issue 12, rows 5, 6 and 8), on a real loopback server.

A stub model (two numeric features, classes "a" and "b", optionally slow) keeps these tests
about the HTTP layer: malformed requests are 4xx with the protocol's error body and no
traceback, limits hold, stalled connections are cut, health answers during a slow prediction,
ids cannot be guessed or taken over, and feedback needs the token.
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ballast.build.serving import REFERENCE_PATH
from ballast.serving import FeedbackAuth, LoadedModel, ServerState, StartupFailure
from ballast.serving.buckets import feature_buckets
from ballast.serving.distributions import Distributions
from ballast.serving.errors import Unauthorized
from ballast.serving.feedback import FeedbackCounts
from ballast.serving.metrics import DriftCollector, ReferenceCollector, ServingMetrics
from ballast.serving.predictor import Prediction
from ballast.serving.service import ModelService
from ballast.serving.signature import ModelSignature
from ballast.serving.tensors import FeatureBatch
from ballast.training.features import FeatureColumns
from tests.unit.test_serving_harness import FEEDBACK_TOKEN, Client, RunningServer, harness_limits, running_loaded

FEATURES = ("x", "y")
INFER = "/v2/models/stub/infer"
FEEDBACK = "/v2/models/stub/feedback"


class StubPredictor:
    """Class "a" when x < 0, else "b"; sleeps `slow_seconds` on a batch of more than `slow_rows` rows."""

    kind = "stub"

    def __init__(self, slow_rows: int = 10**9, slow_seconds: float = 0.0) -> None:
        self.slow_rows, self.slow_seconds = slow_rows, slow_seconds

    def predict(self, batch: FeatureBatch) -> Prediction:
        if batch.rows > self.slow_rows:
            time.sleep(self.slow_seconds)
        labels = np.where(batch.numeric[:, 0] < 0, "a", "b").astype(object)
        probabilities = np.column_stack([labels == "a", labels == "b"]).astype(np.float64)
        return Prediction(labels=labels, probabilities=probabilities)


def stub_model(predictor: StubPredictor | None = None, **limits: Any) -> LoadedModel:
    """A loaded stub within the harness's limits, any of them overridden by name."""
    columns = FeatureColumns(numeric=FEATURES, categorical=(), target="label")
    signature = ModelSignature(
        name="stub",
        version="v1",
        sha256="0" * 64,
        task="classification",
        columns=columns,
        classes=("a", "b"),
        dataset_name=None,
        dataset_sha256=None,
        snapshot_uri=None,
    )
    live = Distributions(feature_buckets(columns.numeric, columns.categorical, None, {}), signature.classes, ())
    counts = FeedbackCounts(signature.classes)
    state = ServerState(ready=[False])
    chosen = predictor or StubPredictor()
    metrics = ServingMetrics(
        signature,
        DriftCollector(signature, live, counts, chosen.kind, state.ready),
        ReferenceCollector(signature, None),
    )
    service = ModelService(
        signature=signature, predictor=chosen, live=live, feedback_counts=counts, limits=harness_limits(**limits)
    )
    return LoadedModel(service=service, metrics=metrics, state=state, reference=None)


def rows(n: int, x: float = 1.0) -> dict[str, Any]:
    return {"inputs": [{"name": name, "shape": [n], "datatype": "FP64", "data": [x] * n} for name in FEATURES]}


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[RunningServer]:
    with running_loaded(
        stub_model(max_rows=50, max_json_depth=8, max_id_length=24, max_request_bytes=64 * 1024),
        tmp_path_factory.mktemp("stub"),
    ) as running:
        yield running


@pytest.fixture
def no_tracebacks(caplog) -> Iterator[None]:
    """Fails the test if anything was logged at ERROR, or with a traceback."""
    caplog.set_level(logging.INFO)
    yield
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not bad, [r.getMessage() for r in bad]


def raw_request(port: int, request: bytes, timeout: float = 5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        return read_until_closed(sock)


def read_until_closed(sock: socket.socket) -> bytes:
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def post(path: str, body: bytes, **headers: str) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        "Host: stub",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *(f"{name.replace('_', '-')}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def tensors_with(data: str) -> bytes:
    return (
        f'{{"inputs": [{{"name": "x", "shape": [1], "datatype": "FP64", "data": [{data}]}},'
        ' {"name": "y", "shape": [1], "datatype": "FP64", "data": [1.0]}]}'
    ).encode()


# --- row 5: every malformed request is a 4xx with the protocol's error body ------------------

MALFORMED = [
    # (what is wrong, body, extra headers, status, fragment of the error)
    ("not UTF-8", b'{"inputs": "\xff\xfe"}', {}, 400, "not UTF-8"),
    ("UTF-16", json.dumps(rows(1)).encode("utf-16"), {}, 400, "not UTF-8"),
    ("Infinity", tensors_with("Infinity"), {}, 400, "infinite"),
    ("-Infinity", tensors_with("-Infinity"), {}, 400, "infinite"),
    ("a duplicate key", b'{"inputs": [], "inputs": [1]}', {}, 400, "appears twice"),
    ("nesting over the limit", b'{"inputs": [{"name": "x", "data": [[[[[[[[1]]]]]]]]}]}', {}, 400, "nested too deeply"),
    ("form data", json.dumps(rows(1)).encode(), {"Content-Type": "application/x-www-form-urlencoded"}, 415, "JSON"),
    ("a compressed body", json.dumps(rows(1)).encode(), {"Content-Encoding": "gzip"}, 415, "compressed"),
    ("no rows", json.dumps(rows(0)).encode(), {}, 400, "no rows"),
    ("rows over the limit", json.dumps(rows(51)).encode(), {}, 400, "at most 50"),
    (
        "a huge shape",
        json.dumps(
            {
                "inputs": [
                    {"name": "x", "shape": [10**18], "datatype": "FP64", "data": [1.0]},
                    {"name": "y", "shape": [1], "datatype": "FP64", "data": [1.0]},
                ]
            }
        ).encode(),
        {},
        400,
        "at most 50",
    ),
    (
        "a shape that is not a list",
        json.dumps({"inputs": [{"name": "x", "shape": 1, "datatype": "FP64", "data": [1.0]}]}).encode(),
        {},
        400,
        "`shape` must be",
    ),
    (
        "data of the wrong type",
        json.dumps({"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": {"a": 1}}]}).encode(),
        {},
        400,
        "`data` must be",
    ),
    (
        "a datatype that is not a string",
        json.dumps({"inputs": [{"name": "x", "shape": [1], "datatype": 7, "data": [1]}]}).encode(),
        {},
        400,
        "`datatype`",
    ),
    ("an id over the limit", json.dumps({"id": "i" * 25, **rows(1)}).encode(), {}, 400, "at most 24"),
    ("empty inputs", b'{"inputs": []}', {}, 400, "non-empty list"),
    ("a JSON scalar", b"3", {}, 400, "JSON object"),
    ("an integer of 5,000 digits", tensors_with("1" * 5000), {}, 400, "malformed JSON"),
]


@pytest.mark.parametrize("case", MALFORMED, ids=[case[0] for case in MALFORMED])
def test_a_malformed_request_is_a_4xx_with_the_error_body_and_no_traceback(server, no_tracebacks, case) -> None:
    _, body, headers, expected, fragment = case
    client = server.client()
    status, answer = client.request("POST", INFER, raw=body, headers=headers)
    assert status == expected, answer
    assert set(answer) == {"error"} and fragment in answer["error"], answer


def test_a_server_without_a_reference_says_so_at_its_reference_path(server) -> None:
    client = server.client()
    status, answer = client.get(REFERENCE_PATH)
    assert status == 404 and "no reference distribution" in answer["error"]
    status, text = client.get("/metrics")
    assert status == 200 and "ballast_serving_rows_total" in text and "ballast_reference_" not in text


def test_nan_stays_a_missing_value(server) -> None:
    status, answer = server.client().post(INFER, raw=tensors_with("NaN"))
    assert status == 200, answer


def test_a_body_over_the_limit_is_refused_by_its_content_length_before_it_is_read(server, no_tracebacks) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(
            post(INFER, b"", Content_Type="application/json").replace(
                b"Content-Length: 0", b"Content-Length: 1000000000"
            )
        )
        answer = read_until_closed(sock)  # no body was sent: the server answered from the headers
    assert answer.startswith(b"HTTP/1.1 413") and b'"error"' in answer, answer[:200]


def test_malformed_http_is_refused_without_a_traceback(server, no_tracebacks) -> None:
    answer = raw_request(server.port, b"POST " + INFER.encode() + b" HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
    assert answer.split(b" ", 2)[1] == b"400", answer[:200]


def test_feedback_labels_that_would_poison_the_error_sums_are_refused() -> None:
    counts = FeedbackCounts(())  # a regressor's
    for label in (float("nan"), float("inf"), 10**400):
        with pytest.raises(Exception, match="finite"):
            counts.check_labels([label], "feedback 0")
    counts.check_labels([1.5, None, 3], "feedback 0")


# --- row 8: deadlines, the connection cap, health during a slow prediction ---------------------


@pytest.fixture(scope="module")
def strict(tmp_path_factory) -> Iterator[RunningServer]:
    with running_loaded(
        stub_model(keepalive_timeout_seconds=0.5, read_timeout_seconds=0.5, max_connections=4),
        tmp_path_factory.mktemp("strict"),
    ) as running:
        yield running


def _closed_within(sock: socket.socket, seconds: float) -> tuple[bool, bytes]:
    sock.settimeout(seconds)
    try:
        return True, read_until_closed(sock)
    except TimeoutError:
        return False, b""


def test_a_connection_that_sends_nothing_is_closed_after_the_keepalive_timeout(strict) -> None:
    with socket.create_connection(("127.0.0.1", strict.port)) as sock:
        started = time.monotonic()
        closed, _ = _closed_within(sock, 3.0)
        assert closed and time.monotonic() - started < 2.0


def test_headers_sent_slowly_are_cut_off(strict) -> None:
    with socket.create_connection(("127.0.0.1", strict.port)) as sock:
        started = time.monotonic()
        sock.sendall(b"POST /v2/models/stub/infer HTTP/1.1\r\n")
        for _ in range(10):  # one header line every 0.2 s: never a whole request
            time.sleep(0.2)
            try:
                sock.sendall(b"X-Drip: 1\r\n")
            except OSError:
                break
        closed, _ = _closed_within(sock, 3.0)
        assert closed and time.monotonic() - started < 3.0


def test_a_body_sent_slowly_is_answered_408_and_closed(strict, no_tracebacks) -> None:
    with socket.create_connection(("127.0.0.1", strict.port)) as sock:
        started = time.monotonic()
        sock.sendall(post(INFER, b"x" * 100, Content_Type="application/json")[:-90])  # 10 of the 100 bytes
        closed, answer = _closed_within(sock, 5.0)
        assert closed and time.monotonic() - started < 4.0
    assert answer.startswith(b"HTTP/1.1 408") and b"did not arrive within" in answer, answer[:200]


def test_a_client_that_hangs_up_during_its_body_is_its_fault_not_a_server_error(strict, no_tracebacks) -> None:
    """Anyone on the pod network can open a request and drop it; a canary's error rate counts 5xx
    as the server's own faults, so such a request must count as the client's (499), with no traceback."""

    def infer_errors() -> dict[str, float]:
        text = strict.metrics()
        return {
            code: _series_or_zero(text, "ballast_serving_request_errors_total", endpoint="infer", code=code)
            for code in ("499", "500")
        }

    before = infer_errors()
    with socket.create_connection(("127.0.0.1", strict.port)) as sock:
        sock.sendall(post(INFER, b"x" * 100, Content_Type="application/json")[:-90])  # 10 of the 100 bytes
        time.sleep(0.1)
    deadline = time.monotonic() + 3
    while infer_errors() == before and time.monotonic() < deadline:
        time.sleep(0.05)
    after = infer_errors()
    assert (after["499"] - before["499"], after["500"] - before["500"]) == (1, 0), (before, after)


def _series_or_zero(text: str, name: str, **labels: str) -> float:
    from tests.unit.test_serving_harness import metric_value

    try:
        return metric_value(text, name, **labels)
    except AssertionError:
        return 0.0


def test_connections_beyond_the_cap_are_refused_and_the_server_recovers(strict) -> None:
    idle = [socket.create_connection(("127.0.0.1", strict.port)) for _ in range(4)]
    try:
        time.sleep(0.1)
        answer = raw_request(strict.port, b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 503") and b"too many open connections" in answer
    finally:
        for sock in idle:
            sock.close()
    time.sleep(0.2)
    assert Client(strict.port).get("/v2/health/live") == (200, {"live": True})


def test_one_client_gets_its_share_of_connections_and_the_probes_the_rest(tmp_path) -> None:
    """A pod that holds connections again and again took the whole cap, and the kubelet's
    readiness probe (from another address) was refused until the server left its Service."""
    limits = {"max_connections": 8, "max_connections_per_client": 3, "keepalive_timeout_seconds": 5.0}
    with running_loaded(stub_model(**limits), tmp_path) as running:
        held = [socket.create_connection(("127.0.0.1", running.port)) for _ in range(3)]
        try:
            time.sleep(0.1)
            answer = raw_request(running.port, b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
            assert answer.startswith(b"HTTP/1.1 503") and b"too many open connections" in answer
            # another address (the kubelet's, here 127.0.0.2 on loopback) is still answered
            with socket.create_connection(("127.0.0.1", running.port), source_address=("127.0.0.2", 0)) as probe:
                probe.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                assert read_until_closed(probe).startswith(b"HTTP/1.1 200")
        finally:
            for sock in held:
                sock.close()
        time.sleep(0.2)
        assert Client(running.port).get("/v2/health/live") == (200, {"live": True})


def test_health_answers_while_a_large_request_is_predicted(tmp_path) -> None:
    slow = StubPredictor(slow_rows=1000, slow_seconds=2.0)
    with running_loaded(stub_model(slow), tmp_path) as running:
        big = json.dumps(rows(8000)).encode()
        assert len(big) > 64 * 1024  # over inline_body_bytes: predicted off the event loop
        answers: list[int] = []
        request = threading.Thread(target=lambda: answers.append(running.client().post(INFER, raw=big)[0]))
        request.start()
        time.sleep(0.3)  # the prediction is under way
        client = running.client()
        latencies = []
        for path in ("/v2/health/live", "/v2/health/ready", "/v2/health/live"):
            started = time.monotonic()
            assert client.get(path)[0] == 200
            latencies.append(time.monotonic() - started)
        assert request.is_alive(), "the large request finished too early to prove anything"
        request.join(10)
    assert answers == [200]
    assert max(latencies) < 0.2, latencies


# --- row 6: ids, the prediction log, feedback auth --------------------------------------------


def test_response_ids_are_random_not_a_counter(server) -> None:
    client = server.client()
    ids = [client.post(INFER, rows(1))[1]["id"] for _ in range(20)]
    assert len(set(ids)) == 20 and all(len(i) >= 22 for i in ids)
    # No shared prefix that a counter would follow.
    assert len({i[:8] for i in ids}) == 20


def test_a_client_chosen_id_cannot_overwrite_another_clients_entry(server) -> None:
    victim, attacker = server.client(), server.client()
    assert victim.post(INFER, {"id": "order-17", **rows(2, x=-1.0)})[0] == 200  # predicts "a", "a"
    status, answer = attacker.post(INFER, {"id": "order-17", **rows(2, x=1.0)})
    assert status == 409 and "already in use" in answer["error"]
    status, result = victim.post(FEEDBACK, {"id": "order-17", "labels": ["a", "a"]})
    assert status == 200 and result["matched"] == 2
    assert server.loaded.service.feedback_counts.confusion[0, 0] >= 2  # true a, predicted a: the victim's
    # Once its feedback came back, the id may be used again.
    assert victim.post(INFER, {"id": "order-17", **rows(1)})[0] == 200


def test_feedback_needs_the_token(server, no_tracebacks) -> None:
    response_id = server.client().post(INFER, rows(1))[1]["id"]
    body = {"id": response_id, "labels": ["b"]}
    for client in (server.client(token=None), server.client(token="wrong-token-of-the-same-size-12")):
        status, answer = client.post(FEEDBACK, body)
        assert status == 401 and "Authorization: Bearer" in answer["error"]
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    connection.request("POST", FEEDBACK, body=json.dumps(body), headers={"Authorization": "Basic eDp5"})
    response = connection.getresponse()
    assert response.status == 401 and response.getheader("WWW-Authenticate", "").startswith("Bearer")
    # Nothing was counted; the right token still finds the prediction.
    status, answer = server.client().post(FEEDBACK, body)
    assert status == 200 and answer["matched"] == 1


def test_feedback_is_refused_by_a_server_without_a_token(tmp_path) -> None:
    with running_loaded(stub_model(), tmp_path, feedback_token=None) as running:
        client = running.client()
        response_id = client.post(INFER, rows(1))[1]["id"]
        status, answer = client.post(FEEDBACK, {"id": response_id, "labels": ["b"]})
        assert status == 403 and "feedback is turned off" in answer["error"]
        # /metrics and inference stay open.
        assert client.get("/metrics")[0] == 200 and client.post(INFER, rows(1))[0] == 200


def test_an_id_over_the_limit_in_feedback_is_refused(server) -> None:
    status, answer = server.client().post(FEEDBACK, {"id": "i" * 25, "labels": ["a"]})
    assert status == 400 and "at most 24" in answer["error"]


def test_the_same_id_twice_in_one_feedback_call_counts_once(server) -> None:
    client = server.client()
    response_id = client.post(INFER, rows(1))[1]["id"]
    status, answer = client.post(FEEDBACK, [{"id": response_id, "labels": ["b"]}, {"id": response_id, "labels": ["b"]}])
    assert status == 200 and (answer["matched"], answer["unmatched"]) == (1, 1), answer


def test_the_token_is_compared_whole() -> None:
    auth = FeedbackAuth(FEEDBACK_TOKEN.encode())
    auth.check(f"Bearer {FEEDBACK_TOKEN}")
    auth.check(f"bearer  {FEEDBACK_TOKEN} ")
    for header in (
        None,
        "",
        "Bearer",
        f"Bearer {FEEDBACK_TOKEN[:-1]}",
        f"Bearer {FEEDBACK_TOKEN}x",
        f"Basic {FEEDBACK_TOKEN}",
        FEEDBACK_TOKEN,
    ):
        with pytest.raises(Exception, match="Authorization: Bearer"):
            auth.check(header)


def test_a_token_the_operator_makes_is_one_the_server_takes(tmp_path: Path) -> None:
    from ballast.build.feedback_token import FEEDBACK_TOKEN_KEY, build_feedback_secret, new_feedback_token

    token = build_feedback_secret("team-a", new_feedback_token())["stringData"][FEEDBACK_TOKEN_KEY]
    (tmp_path / FEEDBACK_TOKEN_KEY).write_text(token)
    FeedbackAuth.from_file(tmp_path / FEEDBACK_TOKEN_KEY).check(f"Bearer {token}")


def test_a_token_file_is_required_usable_at_start_and_followed_when_rotated(tmp_path: Path) -> None:
    path = tmp_path / "token"
    for content in (None, "", "short"):
        if content is not None:
            path.write_text(content)
        with pytest.raises(StartupFailure) as refused:
            FeedbackAuth.from_file(path)
        assert refused.value.reason == "FeedbackTokenUnreadable"
    path.write_text("first-token-0123456789\n")
    auth = FeedbackAuth.from_file(path)
    auth.check("Bearer first-token-0123456789")
    # The kubelet swaps the file: the next call takes the new token.
    replacement = tmp_path / "new"
    replacement.write_text("second-token-0123456789")
    replacement.replace(path)
    auth.check("Bearer second-token-0123456789")
    with pytest.raises(Unauthorized):
        auth.check("Bearer first-token-0123456789")
    # A file that goes bad keeps the last good token rather than opening feedback or closing it.
    path.unlink()
    auth.check("Bearer second-token-0123456789")


def test_refusals_count_as_requests_but_not_in_the_latency_a_canary_judges(server) -> None:
    from tests.unit.test_serving_harness import metric_value

    def infer_latency_count() -> float:
        return metric_value(server.metrics(), "ballast_serving_request_duration_seconds_count", endpoint="infer")

    client = server.client()
    client.post(INFER, rows(1))
    before = infer_latency_count()
    for _ in range(5):
        assert client.post(INFER, raw=b"junk")[0] == 400
    assert infer_latency_count() == before
    client.post(INFER, rows(1))
    assert infer_latency_count() == before + 1
