"""The bounded fetch (ballast.net.http) and its two callers, against servers on 127.0.0.1 that
misbehave: dripping, oversized, redirecting elsewhere, answering with a metadata endpoint's body."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest

from ballast.api.dataset import DatasetSpec
from ballast.data.errors import SourceError, SourceTooLarge
from ballast.data.sources import SourceRefused, SourceSettings, read_source
from ballast.drift.prometheus import (
    PrometheusBadResponse,
    PrometheusEgressDenied,
    PrometheusError,
    PrometheusRefused,
    PrometheusUnreachable,
    window_from_prometheus,
)
from ballast.net.egress import EgressDenied, EgressPolicy
from ballast.net.http import Deadline, DeadlineExceeded, RedirectRefused, TooLarge, open_url
from ballast.reconcile.driftpolicy import reconcile_drift_policy
from ballast.reconcile.driftpolicy_inputs import DriftObservation

LOOPBACK = EgressPolicy.from_strings(allow=["127.0.0.0/8"])
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
METADATA_BODY = (
    '{"Code": "Success", "Type": "AWS-HMAC", "AccessKeyId": "ASIAEXAMPLEEXAMPLE", '
    f'"SecretAccessKey": "{SECRET}", "Token": "IQoJb3JpZ2luX2VjEXAMPLE"}}'
).encode()


@contextmanager
def raw_server(answer: Callable[[socket.socket, bytes], None]) -> Iterator[int]:
    """A TCP server on 127.0.0.1 that hands each connection (and the request's head) to `answer`."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=_handle, args=(connection,), daemon=True).start()

    def _handle(connection: socket.socket) -> None:
        with connection:
            head = b""
            while b"\r\n\r\n" not in head:
                piece = connection.recv(4096)
                if not piece:
                    return
                head += piece
            try:
                answer(connection, head)
            except OSError:
                pass

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        listener.close()


def fixed(status: int, body: bytes, headers: dict[str, str] | None = None):
    def answer(connection: socket.socket, head: bytes) -> None:
        lines = [
            f"HTTP/1.1 {status} X",
            f"Content-Length: {len(body)}",
            "Connection: close",
            *(f"{k}: {v}" for k, v in (headers or {}).items()),
        ]
        connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    return answer


def drip(connection: socket.socket, head: bytes) -> None:
    """Headers at once, then one byte of body every 0.1 s, for ever."""
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\n\r\n")
    while True:
        connection.sendall(b"x")
        time.sleep(0.1)


def drip_headers(connection: socket.socket, head: bytes) -> None:
    """The status line itself one byte at a time: a per-read timeout never fires on it."""
    while True:
        connection.sendall(b"H")
        time.sleep(0.1)


def endless(connection: socket.socket, head: bytes) -> None:
    """A body without a length, as fast as the socket takes it."""
    connection.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
    while True:
        connection.sendall(b"a,b\n" * 16384)


def get(url: str, policy: EgressPolicy = LOOPBACK, seconds: float = 5, max_bytes: int = 1 << 20, **kwargs) -> bytes:
    with open_url(url, policy, Deadline(seconds), **kwargs) as response:
        return response.read(max_bytes)


# --- the fetch --------------------------------------------------------------------------------


@pytest.mark.parametrize("server", [drip, drip_headers])
def test_a_dripping_server_is_cut_at_the_deadline(server):
    with raw_server(server) as port:
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded, match="timed out"):
            get(f"http://127.0.0.1:{port}/", seconds=1.0)
        assert time.monotonic() - started < 1.6


def test_an_idle_limit_ends_a_stall_before_the_deadline():
    with raw_server(lambda connection, head: time.sleep(5)) as port:
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            with open_url(f"http://127.0.0.1:{port}/", LOOPBACK, Deadline(30, idle_seconds=0.5)):
                pass
        assert time.monotonic() - started < 1.5


def test_a_name_that_never_resolves_is_cut_at_the_deadline():
    def stuck_dns(host: str, port: int) -> list[str]:
        time.sleep(3)
        return ["93.184.216.34"]

    started = time.monotonic()
    with pytest.raises(DeadlineExceeded, match="did not resolve"):
        get("http://slow-dns.example/", seconds=0.5, resolver=stuck_dns)
    assert time.monotonic() - started < 1.0


def test_an_oversized_answer_is_cut_at_the_cap():
    with raw_server(endless) as port:
        with pytest.raises(TooLarge, match="limit of 100000 bytes"):
            get(f"http://127.0.0.1:{port}/", max_bytes=100_000)
    with raw_server(fixed(200, b"x" * 5000)) as port:  # a declared length is judged before reading
        with pytest.raises(TooLarge, match="declares 5000 bytes"):
            get(f"http://127.0.0.1:{port}/", max_bytes=4999)
        assert get(f"http://127.0.0.1:{port}/", max_bytes=5000) == b"x" * 5000


def test_redirects_stay_on_the_same_scheme_host_and_port():
    with raw_server(fixed(200, b"elsewhere")) as other:
        for location in (
            f"http://127.0.0.1:{other}/",
            f"http://localhost:{other}/",
            "https://127.0.0.1/",
            "http://169.254.169.254/latest/meta-data/",
        ):
            with raw_server(fixed(302, b"", {"Location": location})) as port:
                with pytest.raises(RedirectRefused) as refused:
                    get(f"http://127.0.0.1:{port}/")
                assert location not in str(refused.value)  # the server's words are not repeated


def test_a_redirect_on_the_same_origin_is_followed_and_checked_again_up_to_five():
    hops = []

    def redirecting(connection: socket.socket, head: bytes) -> None:
        path = head.split(b" ")[1].decode()
        hops.append(path)
        if path == "/final":
            return fixed(200, b"arrived")(connection, head)
        step = int(path.strip("/") or 0)
        fixed(307, b"", {"Location": "/final" if step == 3 else f"/{step + 1}"})(connection, head)

    with raw_server(redirecting) as port:
        assert get(f"http://127.0.0.1:{port}/") == b"arrived"
        assert hops == ["/", "/1", "/2", "/3", "/final"]

    def looping(connection: socket.socket, head: bytes) -> None:
        fixed(301, b"", {"Location": "/again"})(connection, head)

    with raw_server(looping) as port:
        with pytest.raises(RedirectRefused, match="more than 5 redirects"):
            get(f"http://127.0.0.1:{port}/")


def test_the_connection_goes_to_the_checked_address_with_the_name_as_host():
    """The name resolves once, through the policy's check: a name no DNS knows is read at the
    address the check saw, and the server sees the name."""
    seen = []

    def recording(connection: socket.socket, head: bytes) -> None:
        seen.append(head)
        fixed(200, b"ok")(connection, head)

    with raw_server(recording) as port:
        body = get(f"http://data.invalid:{port}/x.csv", resolver=lambda host, p: ["127.0.0.1"])
    assert body == b"ok" and f"Host: data.invalid:{port}".encode() in seen[0]
    with pytest.raises(EgressDenied):  # the same name, resolving to a denied address
        get("http://data.invalid/x.csv", EgressPolicy(), resolver=lambda host, p: ["169.254.169.254"])


def test_a_denied_address_is_never_connected_to():
    with raw_server(fixed(200, b"should not be read")) as port:
        with pytest.raises(EgressDenied, match="loopback"):
            get(f"http://127.0.0.1:{port}/", EgressPolicy())


# --- Prometheus: nothing it answered in a message, one deadline for all the queries ----------------


@pytest.mark.parametrize(
    "status, body",
    [
        (200, METADATA_BODY),
        (500, METADATA_BODY),
        (404, METADATA_BODY),
        (200, b"<html>" + METADATA_BODY + b"</html>"),
        (400, b'{"status": "error", "errorType": "' + SECRET.encode() + b'", "error": "' + SECRET.encode() + b'"}'),
    ],
)
def test_a_metadata_like_body_never_reaches_the_policys_status(status: int, body: bytes):
    with raw_server(fixed(status, body)) as port:
        with pytest.raises(PrometheusBadResponse) as failed:
            window_from_prometheus(f"http://127.0.0.1:{port}", "ns", "m", "v", 0, 300, timeout=5, egress=LOOPBACK)
    message = str(failed.value)
    assert SECRET not in message and "ASIA" not in message and "AccessKeyId" not in message, message
    if status != 200:
        assert f"HTTP {status}" in message and f"{len(body)} bytes" in message
    outcome = reconcile_drift_policy(observation(failed.value))
    status_text = repr(outcome.status) + repr(outcome.events)
    assert SECRET not in status_text and "ASIA" not in status_text
    ready = next(c for c in outcome.status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "PrometheusBadResponse")


def test_the_metadata_address_is_refused_without_a_request():
    with pytest.raises(PrometheusEgressDenied) as refused:
        window_from_prometheus(
            "http://169.254.169.254/latest/meta-data/iam/security-credentials/x", "ns", "m", "v", 0, 300, timeout=5
        )
    assert refused.value.reason == "EgressDenied" and "link-local" in str(refused.value)
    ready = next(
        c for c in reconcile_drift_policy(observation(refused.value)).status["conditions"] if c["type"] == "Ready"
    )
    assert (ready["status"], ready["reason"]) == ("False", "EgressDenied")


def test_a_redirect_elsewhere_or_an_oversized_answer_is_refused():
    with raw_server(fixed(302, b"", {"Location": "http://169.254.169.254/"})) as port:
        with pytest.raises(PrometheusRefused) as refused:
            window_from_prometheus(f"http://127.0.0.1:{port}", "ns", "m", "v", 0, 300, timeout=5, egress=LOOPBACK)
    assert refused.value.reason == "PrometheusRefused" and "169.254" not in str(refused.value)
    with raw_server(endless) as port:
        with pytest.raises(PrometheusRefused, match="larger than the limit"):
            window_from_prometheus(f"http://127.0.0.1:{port}", "ns", "m", "v", 0, 300, timeout=5, egress=LOOPBACK)


def test_all_the_queries_of_a_window_share_one_deadline():
    """Each answer comes in 0.3 s, well inside any per-request timeout; a window needs many of
    them, so the evaluation must end at its deadline, not after all of them."""
    names = (
        b'{"status": "success", "data": ["ballast_serving_rows_total", "ballast_feature_value_bucket", '
        b'"ballast_feature_value_count", "ballast_prediction_total"]}'
    )
    vector = b'{"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1, "5"]}]}}'

    def slow_prometheus(connection: socket.socket, head: bytes) -> None:
        time.sleep(0.3)
        fixed(200, names if b"/label/" in head else vector)(connection, head)

    with raw_server(slow_prometheus) as port:
        started = time.monotonic()
        with pytest.raises(PrometheusUnreachable, match="timed out"):
            window_from_prometheus(f"http://127.0.0.1:{port}", "ns", "m", "v", 0, 300, timeout=1.0, egress=LOOPBACK)
        assert time.monotonic() - started < 1.5


def observation(error: PrometheusError) -> DriftObservation:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    body = {
        "metadata": {"name": "p", "namespace": "ns", "generation": 1},
        "spec": {"model": "m", "interval": "1m", "source": {"prometheusUrl": "http://x"}},
        "status": {},
    }
    production = {"metadata": {"name": "m-v1"}, "spec": {}, "status": {}}
    return DriftObservation(body=body, now=now, production=production, window_problem=(error.reason, str(error)))


# --- Dataset URLs -----------------------------------------------------------------------------------


def url_spec(url: str) -> DatasetSpec:
    return DatasetSpec.model_validate(
        {"source": {"url": url}, "schema": {"columns": [{"name": "a", "type": "string"}]}}
    )


def test_a_dataset_url_on_a_denied_address_is_refused_with_its_reason():
    with raw_server(fixed(200, b"a\n1\n")) as port:
        with pytest.raises(SourceRefused) as refused:
            read_source(url_spec(f"http://127.0.0.1:{port}/d.csv"), SourceSettings(environ={}))
        assert refused.value.reason == "EgressDenied" and "loopback" in str(refused.value)
        allowed = SourceSettings(environ={"BALLAST_EGRESS_ALLOW": f"127.0.0.1:{port}"})
        assert read_source(url_spec(f"http://127.0.0.1:{port}/d.csv"), allowed).frame.shape == (1, 1)


def test_a_dataset_url_redirecting_elsewhere_dripping_or_oversized_fails_with_a_reason():
    with raw_server(fixed(302, b"", {"Location": "http://169.254.169.254/latest"})) as port:
        with pytest.raises(SourceRefused) as refused:
            read_source(url_spec(f"http://127.0.0.1:{port}/d.csv"), SourceSettings(egress=LOOPBACK))
        assert "169.254" not in str(refused.value)
    with raw_server(drip) as port:
        started = time.monotonic()
        with pytest.raises(SourceError, match="timed out"):
            read_source(
                url_spec(f"http://127.0.0.1:{port}/d.csv"),
                SourceSettings(egress=LOOPBACK, deadline_seconds=1.0, timeout_seconds=30),
            )
        assert time.monotonic() - started < 1.6
    with raw_server(endless) as port:
        with pytest.raises(SourceTooLarge):
            read_source(url_spec(f"http://127.0.0.1:{port}/d.csv"), SourceSettings(egress=LOOPBACK, max_bytes=50_000))
