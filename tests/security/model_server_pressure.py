"""Large and slow requests to a model server (issue 12, row 8), measured from a pod on the pod
network: `python3 - <host:port> <model> < model_server_pressure.py` in a pod of the Ballast image
(only the standard library), which prints one JSON object of what it measured.

- `oversize`: headers that announce a 15 MiB body, then its first MiB: the answer and how long
  it took; the same body sent chunked, without a Content-Length;
- `large`: requests near the limits (10,000 rows, ~3.9 MiB) sent at once, while /v2/health/live
  is asked every 20 ms: each large answer, and the health latencies meanwhile;
- `long_id`: an infer request whose id is 8 MiB, and one just over the id limit in a small body;
- `stalled`: connections that send part of a body, then many that send nothing, more than the
  server takes: how many were refused with a 503, and how many the server still held as time went on;
- `after`: a normal inference once it is all over.
"""

from __future__ import annotations

import http.client
import json
import random
import resource
import select
import socket
import sys
import threading
import time

HOST, _, PORT_TEXT = sys.argv[1].rpartition(":")
PORT, MODEL = int(PORT_TEXT), sys.argv[2]
INFER = f"/v2/models/{MODEL}/infer"
MIB = 1 << 20
LARGE_ROWS, LARGE_BYTES, LARGE_AT_ONCE = 10_000, 4 * MIB - 128 * 1024, 12
PARTIAL_BODIES, IDLE_CONNECTIONS = 16, 1_400
STALL_CHECKS = (1, 4, 8, 13)
"""Seconds after the last connection opened; the server's defaults close an idle connection
after 5 s and a half-sent body after 10 s."""


def model_inputs() -> list[str]:
    """The model's input names, from its metadata (GET /v2/models/<model>)."""
    connection = http.client.HTTPConnection(HOST, PORT, timeout=10)
    try:
        connection.request("GET", f"/v2/models/{MODEL}")
        return [tensor["name"] for tensor in json.loads(connection.getresponse().read())["inputs"]]
    finally:
        connection.close()


def infer_body(rows: int, *, pad_to: int = 0, request_id: str | None = None) -> bytes:
    inputs = [
        {
            "name": name,
            "shape": [rows],
            "datatype": "FP64",
            "data": [round(random.uniform(0.1, 7.9), 15) for _ in range(rows)],
        }
        for name in model_inputs()
    ]
    document = {"inputs": inputs} if request_id is None else {"id": request_id, "inputs": inputs}
    body = json.dumps(document).encode()
    return body[:-1] + b" " * max(0, pad_to - len(body)) + b"}"  # JSON whitespace: the same request, bigger


def timed_request(method: str, path: str, body: bytes | None = None, timeout: float = 30) -> tuple[int, float]:
    started = time.monotonic()
    connection = http.client.HTTPConnection(HOST, PORT, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers={"Content-Type": "application/json"} if body else {})
        answer = connection.getresponse()
        answer.read()
        return answer.status, time.monotonic() - started
    except OSError:
        return -1, time.monotonic() - started
    finally:
        connection.close()


def status_of(answer: bytes) -> int:
    parts = answer.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else -1


def read_answer(sock: socket.socket, timeout: float) -> bytes:
    sock.settimeout(timeout)
    answer = b""
    try:
        while b"\r\n\r\n" not in answer:
            piece = sock.recv(65536)
            if not piece:
                break
            answer += piece
    except OSError:
        pass
    return answer


def oversize() -> dict:
    head = (
        f"POST {INFER} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\nContent-Length: {15 * MIB}\r\n\r\n"
    ).encode()
    started = time.monotonic()
    with socket.create_connection((HOST, PORT), timeout=10) as sock:
        sock.sendall(head)
        try:
            sock.sendall(b" " * MIB)
        except OSError:
            pass  # the server may have answered and closed already
        declared = status_of(read_answer(sock, 10)), time.monotonic() - started
    started, sent = time.monotonic(), 0
    with socket.create_connection((HOST, PORT), timeout=10) as sock:
        sock.sendall(
            f"POST {INFER} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
        )
        chunk = b"%x\r\n" % MIB + b" " * MIB + b"\r\n"
        try:
            while sent < 15 * MIB and not readable(sock):
                sock.sendall(chunk)
                sent += MIB
        except OSError:
            pass
        chunked = status_of(read_answer(sock, 10)), time.monotonic() - started
    return {
        "declared": {"status": declared[0], "seconds": round(declared[1], 3)},
        "chunked": {"status": chunked[0], "seconds": round(chunked[1], 3), "sent_mib": sent // MIB},
    }


def large() -> dict:
    body = infer_body(LARGE_ROWS, pad_to=LARGE_BYTES)
    answers: list[tuple[int, float]] = []
    workers = [
        threading.Thread(target=lambda: answers.append(timed_request("POST", INFER, body, timeout=60)))
        for _ in range(LARGE_AT_ONCE)
    ]
    health: list[float] = []
    for worker in workers:
        worker.start()
    while any(worker.is_alive() for worker in workers):
        status, seconds = timed_request("GET", "/v2/health/live", timeout=10)
        health.append(seconds if status == 200 else float("inf"))
        time.sleep(0.02)
    health.sort()
    return {
        "body_bytes": len(body),
        "rows": LARGE_ROWS,
        "statuses": sorted(status for status, _ in answers),
        "slowest_seconds": round(max(seconds for _, seconds in answers), 3),
        "health": {
            "count": len(health),
            "median_seconds": round(health[len(health) // 2], 4),
            "max_seconds": round(health[-1], 4),
        },
    }


def long_id() -> dict:
    huge_id = infer_body(1, request_id="i" * (8 * MIB))
    over_limit = infer_body(1, request_id="i" * 129)
    return {
        "eight_mib": timed_request("POST", INFER, huge_id)[0],
        "over_limit": timed_request("POST", INFER, over_limit)[0],
    }


def readable(sock: socket.socket) -> bool:
    """Something to read (an answer, the end of the stream): poll, as select() stops at fd 1024."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


def still_open(sock: socket.socket) -> bool:
    """Held by the server: nothing to read, neither an answer (503, 408) nor the end of the stream."""
    return not readable(sock)


def stalled() -> dict:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    started = time.monotonic()
    partial = []
    for _ in range(PARTIAL_BODIES):  # headers and 10 of 100 bytes: the read deadline's case
        sock = socket.create_connection((HOST, PORT), timeout=5)
        sock.sendall(
            f"POST {INFER} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
            'Content-Length: 100\r\n\r\n{"inputs":'.encode()
        )
        partial.append(sock)
    idle, failed = [], 0
    for _ in range(IDLE_CONNECTIONS):  # nothing at all: the keep-alive timeout's case
        try:
            idle.append(socket.create_connection((HOST, PORT), timeout=5))
        except OSError:
            failed += 1
    opened = time.monotonic()
    refused = set()
    held = {}
    for moment in STALL_CHECKS:
        time.sleep(max(0.0, opened + moment - time.monotonic()))
        refused |= {sock for sock in idle if readable(sock) and status_of(sock.recv(64, socket.MSG_PEEK)) == 503}
        held[str(moment)] = {"idle": sum(map(still_open, idle)), "partial": sum(map(still_open, partial))}
    partial_answers = sorted({status_of(read_answer(sock, 1)) for sock in partial})
    for sock in idle + partial:
        sock.close()
    return {
        "nofile": [soft, hard],
        "opened": len(idle) + len(partial),
        "failed_to_open": failed,
        "open_seconds": round(opened - started, 2),
        "refused_with_503": len(refused),
        "held_after_seconds": held,
        "partial_answers": partial_answers,
    }


def main() -> None:
    result = {"oversize": oversize(), "large": large(), "long_id": long_id(), "stalled": stalled()}
    result["after"] = timed_request("POST", INFER, infer_body(1))[0]
    print(json.dumps(result))


main()
