"""Model server latency and throughput on one core.

    .venv/bin/python benchmarks/serve_latency.py [--phase-seconds 1.5]

Trains a logistic regression and a 100-tree random forest on iris with Ballast's own trainer,
starts `ballast serve` (python -m ballast.runtime.serve) pinned to core 0, and drives it from a
load generator process pinned to core 1 over loopback with keep-alive connections:

  latency    one connection, one request at a time: p50 / p99 of single-row and 100-row requests
  max rate   open loop at rising rates from about half the one-connection rate (requests sent on
             a schedule, latency measured from the scheduled time, so a stalled server is not
             hidden), single-row requests over 32 connections; a rate is sustained when every
             request got 200, at least 98% of the scheduled requests were answered within the
             step, and p99 stayed under 100 ms
  overhead   server p50 minus the bare in-process predict time of the same model and row
             (the pipeline's own predict + predict_proba on a DataFrame, and Ballast's predictor)

The side-by-side comparison with MLServer and KServe is serve_compare.py's.

Everything listens on 127.0.0.1 only; every phase is bounded in time, the whole run by --budget.
Prints its figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any

import figures

REPO = Path(__file__).resolve().parents[1]
SERVER_CORE, LOAD_CORE = 0, 1
RATES = (100, 250, 500, 1000, 1500, 2000, 2500, 3000, 4000, 6000, 8000)
RATE_CONNECTIONS = 32
MAX_P99_SECONDS = 0.1


# --- load generator (runs in its own process, pinned to the other core) ---------------------


def http_request(port: int, path: str, body: bytes) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def take_response(buffer: bytearray) -> int | None:
    """The status of the first complete response in `buffer` (removed from it), or None."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buffer[:end]).lower()
    start = head.find(b"content-length:")
    length = int(head[start + 15 : head.find(b"\r\n", start) if head.find(b"\r\n", start) > 0 else None])
    if len(buffer) < end + 4 + length:
        return None
    status = int(head[9:12])
    del buffer[: end + 4 + length]
    return status


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def exchange(sock: socket.socket, buffer: bytearray, request: bytes) -> int:
    """Send one request on a keep-alive connection and wait for its whole response: its status."""
    sock.sendall(request)
    status = None
    while status is None:
        chunk = sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        buffer += chunk
        status = take_response(buffer)
    return status


def closed_loop(port: int, request: bytes, seconds: float) -> dict[str, Any]:
    sock, buffer = connect(port), bytearray()
    latencies, errors = [], 0
    warm_until = time.perf_counter() + min(0.5, seconds / 3)
    deadline = time.perf_counter() + seconds
    while True:
        started = time.perf_counter()
        if started > deadline:
            break
        status = exchange(sock, buffer, request)
        if started >= warm_until:
            latencies.append(time.perf_counter() - started)
            errors += status != 200
    sock.close()
    return summary(latencies, errors, len(latencies))


def open_loop(port: int, request: bytes, rate: float, seconds: float) -> dict[str, Any]:
    """Requests scheduled every 1/rate s; latency counts from the scheduled time."""
    selector = selectors.DefaultSelector()
    idle: list[socket.socket] = []
    state: dict[socket.socket, list[Any]] = {}
    for _ in range(RATE_CONNECTIONS):
        sock = connect(port)
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
        state[sock] = [bytearray(), 0.0]
        idle.append(sock)
    total = int(rate * seconds)
    interval = 1.0 / rate
    queue: deque[float] = deque()
    latencies, errors, scheduled = [], 0, 0
    begin = time.perf_counter()
    give_up = begin + seconds + 2.0
    while len(latencies) < total and time.perf_counter() < give_up:
        now = time.perf_counter()
        while scheduled < total and begin + scheduled * interval <= now:
            queue.append(begin + scheduled * interval)
            scheduled += 1
        while queue and idle:
            sock = idle.pop()
            state[sock][1] = queue.popleft()
            sock.send(request)
        for key, _ in selector.select(max(0.0, min(0.001, begin + scheduled * interval - time.perf_counter()))):
            sock = key.fileobj
            buffer = state[sock][0]
            chunk = sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("the server closed a connection")
            buffer += chunk
            status = take_response(buffer)
            if status is not None:
                latencies.append(time.perf_counter() - state[sock][1])
                errors += status != 200
                idle.append(sock)
    elapsed = time.perf_counter() - begin
    for sock in state:
        sock.close()
    result = summary(latencies, errors, total)
    result["achieved_rate"] = len(latencies) / elapsed
    return result


def summary(latencies: list[float], errors: int, expected: int) -> dict[str, Any]:
    ordered = sorted(latencies)
    pick = (lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1e3) if ordered else (lambda q: None)
    return {
        "requests": len(ordered),
        "expected": expected,
        "errors": errors,
        "p50_ms": pick(0.50),
        "p99_ms": pick(0.99),
        "mean_ms": statistics.fmean(ordered) * 1e3 if ordered else None,
    }


def sustained(step: dict[str, Any], rate: float) -> bool:
    return (
        step["errors"] == 0
        and step["requests"] >= 0.98 * step["expected"]
        and step["p99_ms"] is not None
        and step["p99_ms"] <= MAX_P99_SECONDS * 1e3
    )


def run_load(plan: dict[str, Any]) -> dict[str, Any]:
    """The load generator's whole job for one server (plan and result as JSON)."""
    port, seconds = plan["port"], plan["seconds"]
    result: dict[str, Any] = {}
    for name, body in plan["bodies"].items():
        result[name] = closed_loop(port, http_request(port, plan["path"], body.encode()), seconds)
    steps, best = [], None
    single = http_request(port, plan["path"], plan["bodies"]["1 row"].encode())
    # Start the ladder at about half of what one connection achieved, by the same rule for every
    # server, so the time budget is spent near each server's limit.
    capacity = 1e3 / result["1 row"]["p50_ms"]
    start = max([r for r in RATES if r <= capacity / 2] or [RATES[0]])
    result["stopped_by_budget"] = False
    for rate in (r for r in RATES if r >= start):
        if time.perf_counter() > plan["deadline_perf"]:
            result["stopped_by_budget"] = True
            break
        step = open_loop(port, single, rate, seconds)
        step["rate"] = rate
        steps.append(step)
        if not sustained(step, rate):
            break
        best = rate
    result["rate_steps"] = steps
    result["max_sustained_rate"] = best
    return result


# --- the servers ----------------------------------------------------------------------------


def pinned(command: list[str], core: int) -> list[str]:
    return ["taskset", "-c", str(core), *command] if shutil.which("taskset") else command


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_ready(process: subprocess.Popen, port: int, path: str, timeout: float = 90) -> None:
    import http.client

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", path)
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError("the server did not become ready")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


FEEDBACK_TOKEN = "benchmark-feedback-token-0123456789"
"""The token Ballast's server takes feedback with here (the operator provisions a random one)."""


def start_ballast(trained: Any, port: int, log: Path, grpc_port: int = -1) -> subprocess.Popen:
    """`ballast serve` on `port` (REST) and, when grpc_port is not -1, on grpc_port (OIP gRPC)."""
    token_file = log.with_suffix(".token")
    token_file.write_text(FEEDBACK_TOKEN)
    command = [
        sys.executable,
        "-m",
        "ballast.runtime.serve",
        "--store",
        trained.store.uri,
        "--artifact-uri",
        trained.artifact_uri,
        "--artifact-sha256",
        trained.sha256,
        "--model-name",
        "model",
        "--bind-address",
        "127.0.0.1",
        "--port",
        str(port),
        # -1: REST only (the gRPC API's default port may be taken)
        "--grpc-port",
        str(grpc_port),
        "--drain-seconds",
        "0",
        "--termination-log",
        str(log.with_suffix(".termination")),
        "--feedback-token-file",
        str(token_file),
    ]
    return subprocess.Popen(pinned(command, SERVER_CORE), stdout=log.open("w"), stderr=subprocess.STDOUT, cwd=REPO)


def request_bodies(trained: Any, rows: int) -> str:
    frame = trained.frame.drop(columns=trained.columns.target).sample(rows, random_state=rows)
    inputs = [
        {"name": name, "shape": [rows], "datatype": "FP64", "data": frame[name].astype(float).tolist()}
        for name in trained.columns.all
    ]
    return json.dumps({"inputs": inputs, "outputs": [{"name": "predict"}, {"name": "predict_proba"}]})


def load_process(plan: dict[str, Any]) -> dict[str, Any]:
    command = pinned([sys.executable, __file__, "--load-generator"], LOAD_CORE)
    done = subprocess.run(command, input=json.dumps(plan), capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout)


def bare_predict_ms(trained: Any) -> tuple[float, float]:
    """In-process p50 of the pipeline on a one-row DataFrame, and of Ballast's predictor."""
    from ballast.serving import load_served_model
    from ballast.serving.predictor import batch_frame
    from ballast.serving.tensors import batch_from_inputs
    from ballast.training.features import feature_frame

    pipeline = trained.pipeline()
    row = trained.frame.drop(columns=trained.columns.target).sample(1, random_state=1)
    frame = feature_frame(row, trained.columns)

    def pipeline_call() -> None:
        pipeline.predict(frame)
        pipeline.predict_proba(frame)

    predictor = load_served_model(trained.store, trained.source()).service.predictor
    batch = batch_from_inputs(json.loads(request_bodies(trained, 1))["inputs"], trained.columns)
    assert batch_frame(batch, trained.columns).shape[0] == 1
    return p50_ms(pipeline_call), p50_ms(lambda: predictor.predict(batch))


def p50_ms(call: Any, repeat: int = 400) -> float:
    for _ in range(50):
        call()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e3


def measure(trained: Any, workdir: Path, seconds: float, deadline: float) -> dict[str, Any]:
    port = free_port()
    log = workdir / f"ballast-{trained.model}.log"
    process = start_ballast(trained, port, log)
    try:
        wait_ready(process, port, "/v2/health/ready")
        bodies = {"1 row": request_bodies(trained, 1), "100 rows": request_bodies(trained, 100)}
        plan = {
            "port": port,
            "path": "/v2/models/model/infer",
            "bodies": bodies,
            "seconds": seconds,
            "deadline_perf": deadline,
        }
        return load_process(plan)
    except Exception as error:  # noqa: BLE001 - reported beside the figures
        tail = log.read_text()[-1500:] if log.exists() else ""
        return {"error": f"{error}\n{tail}"}
    finally:
        stop(process)


def show(kind: str, model: str, result: dict[str, Any]) -> None:
    if "error" in result:
        print(f"  {kind:8} {model:14} FAILED: {result['error']}")
        return
    one, hundred = result["1 row"], result["100 rows"]
    best = result["max_sustained_rate"]
    steps = result["rate_steps"]
    # a budget spent before the first rate step leaves no step to name
    below = f"<{steps[0]['rate']}" if steps else "not measured"
    print(
        f"  {kind:8} {model:14} 1 row p50 {one['p50_ms']:.3f} ms p99 {one['p99_ms']:.3f} ms | "
        f"100 rows p50 {hundred['p50_ms']:.3f} ms p99 {hundred['p99_ms']:.3f} ms | "
        f"max sustained {best if best is not None else below} req/s "
        f"(errors {sum(step['errors'] for step in steps)}"
        f"{'; time budget reached before the limit' if result['stopped_by_budget'] else ''})"
    )
    for step in steps:
        print(
            f"  {'':8} {'':14}   at {step['rate']:>5}/s: achieved {step['achieved_rate']:7.0f}/s, "
            f"p50 {step['p50_ms']:.2f} ms, p99 {step['p99_ms']:.2f} ms, errors {step['errors']}"
        )


FIGURES = figures.Section("serve_latency", figures.BENCHMARKS_DOC)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--phase-seconds", type=float, default=1.5)
    parser.add_argument("--budget", type=float, default=60.0, help="seconds for the whole run (bounds the rate steps)")
    parser.add_argument("--load-generator", action="store_true", help=argparse.SUPPRESS)
    figures.add_update_option(parser, FIGURES)
    return parser


def run(args: argparse.Namespace) -> None:
    if args.load_generator:
        plan = json.loads(sys.stdin.read())
        plan["deadline_perf"] = time.perf_counter() + max(0.0, plan["deadline_perf"] - time.time())
        print(json.dumps(run_load(plan)))
        return

    sys.path[:0] = [str(REPO)]
    from tests.unit.test_serving_harness import iris_frame, trained_model

    started = time.time()
    load_before = os.getloadavg()
    workdir = Path(tempfile.mkdtemp(prefix="ballast-serve-bench-"))
    with contextlib.redirect_stdout(io.StringIO()):  # the trainer's own result lines are not figures
        models = [
            trained_model(workdir, "iris-logistic", iris_frame(), "sklearn.linear_model.LogisticRegression"),
            trained_model(
                workdir, "iris-forest", iris_frame(), "sklearn.ensemble.RandomForestClassifier", {"n_estimators": 100}
            ),
        ]
    results: dict[str, dict[str, Any]] = {}
    for index, trained in enumerate(models):
        # Each run gets an equal share of what is left of the budget for its rate steps.
        left = args.budget - (time.time() - started)
        deadline = time.time() + max(1.0, left / (len(models) - index)) - 4 * args.phase_seconds
        results[trained.model] = measure(trained, workdir, args.phase_seconds, deadline)

    print(f"\nModel server on one core (taskset -c {SERVER_CORE}), load from core {LOAD_CORE}, loopback, keep-alive")
    # Other work on the machine shows in p99 and in the maximum rate first; say how much there was.
    print(f"load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f} (1 min; 2 busy cores is ~2)")
    for trained in models:
        pipeline_ms, predictor_ms = bare_predict_ms(trained)
        print(
            f"\n{trained.model}: bare in-process predict+predict_proba of one row: pipeline on a DataFrame "
            f"{pipeline_ms:.3f} ms, Ballast's predictor {predictor_ms:.3f} ms"
        )
        result = results[trained.model]
        show("ballast", trained.model, result)
        if "error" not in result:
            print(
                f"  {'':8} {'':14} per-request overhead (1-row p50 minus the bare predictor): "
                f"{result['1 row']['p50_ms'] - predictor_ms:.3f} ms"
            )
    print(f"\ntotal {time.time() - started:.0f} s; logs in {workdir}")


if __name__ == "__main__":
    sys.exit(figures.run_benchmark(FIGURES, build_parser(), run))
