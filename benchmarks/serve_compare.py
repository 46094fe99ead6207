"""Ballast's model server beside MLServer and the KServe SDK server, under identical conditions.

    .venv/bin/python benchmarks/serve_compare.py [--duration 20] [--warmup 3] [--update]

One model, trained once by Ballast (iris, LogisticRegression, seed 1), served in turn by:

  ballast   `ballast serve` (python -m ballast.runtime.serve) on Ballast's skops artifact
  mlserver  MLServer's sklearn runtime, single process (parallel_workers 0), loading a joblib file
  kserve    the KServe SDK ModelServer with a minimal kserve.Model around the same estimator

The peers get the fitted numbers of Ballast's pipeline (the scaler's mean and scale, the
coefficients, intercepts and classes) as JSON and rebuild the same estimator in their own
virtualenvs (peer_venvs.py; never installed into Ballast's), so they predict exactly what
Ballast predicts; the joblib file MLServer loads is written there too, as Ballast never unpickles.

Each server runs alone, pinned to core 0; one closed-loop client on one keep-alive connection,
pinned to core 1, posts OIP REST JSON (`/v2/models/model/infer`, one 2-D FP64 tensor) for
--warmup seconds, then for --duration seconds that count, with 1 and 100 rows; then the same
predict-only request goes through the OIP gRPC API (ModelInfer on one channel, the tensor in
fp64_contents; the client is the stubs Ballast's server is built on). Ballast answers
with `predict` and `predict_proba` unless the request's `outputs` names one; the peers answer
`predict`. So Ballast is measured twice: its default answer, and the predict-only request that
every server gets. Each server's first answer is checked against the bare in-process predict.

Prints one table, the bare in-process predict for 1 and 100 rows, and the load average at the
start and the end; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import figures
import peer_venvs
import serve_latency

REPO = Path(__file__).resolve().parents[1]
MODEL_NAME = "model"
INFER_PATH = f"/v2/models/{MODEL_NAME}/infer"
ROWS = (1, 100)
MLSERVER_VERSION = "1.7.1"
KSERVE_VERSION = "0.21.0"
PEER_REQUIREMENTS = {
    "mlserver": (f"mlserver=={MLSERVER_VERSION}", f"mlserver-sklearn=={MLSERVER_VERSION}", "scikit-learn<1.10"),
    "kserve": (f"kserve=={KSERVE_VERSION}", "scikit-learn<1.10"),
}
PEER_VERSIONS = {"mlserver": MLSERVER_VERSION, "kserve": KSERVE_VERSION}
FIGURES = figures.Section("serve_compare", figures.BENCHMARKS_DOC)


@dataclass(frozen=True)
class Case:
    """One measured combination: a server, a batch size and the answer it is asked for."""

    server: str
    rows: int
    answer: str  # "default" (the server's own choice) or "predict" (outputs: predict only)
    protocol: str = "REST"  # or "gRPC"


@dataclass(frozen=True)
class Measured:
    case: Case
    p50_ms: float
    p99_ms: float
    requests_per_second: float
    response_bytes: int
    errors: int


def cases_for(server: str) -> list[Case]:
    """Ballast both ways over REST; a peer's default answer is already predict only; over gRPC
    every server gets the predict-only request."""
    answers = ("default", "predict") if server == "ballast" else ("predict",)
    rest = [Case(server, rows, answer) for rows in ROWS for answer in answers]
    return rest + [Case(server, rows, "predict", "gRPC") for rows in ROWS]


# --- request bodies and the table (pure) ---------------------------------------------------


def iris_rows(rows: int) -> list[list[float]]:
    """The first `rows` iris rows, cycled: the same inputs for every server."""
    from sklearn.datasets import load_iris

    data = load_iris().data
    return [[float(value) for value in data[index % len(data)]] for index in range(rows)]


def infer_body(matrix: list[list[float]], answer: str) -> bytes:
    """One 2-D FP64 tensor (each server takes it as the model's feature matrix); `predict` asks
    for that output only, `default` leaves the choice to the server."""
    document: dict[str, Any] = {
        "inputs": [{"name": "input-0", "shape": [len(matrix), len(matrix[0])], "datatype": "FP64", "data": matrix}]
    }
    if answer == "predict":
        document["outputs"] = [{"name": "predict"}]
    return json.dumps(document, separators=(",", ":")).encode()


def predictions(response: dict[str, Any]) -> list[Any]:
    """The `predict` output's values from an OIP response, flattened."""
    for output in response.get("outputs", []):
        if output["name"] == "predict":
            data = output["data"]
            return [value for row in data for value in row] if data and isinstance(data[0], list) else list(data)
    raise ValueError(f"no `predict` output in {sorted(o['name'] for o in response.get('outputs', []))}")


def grpc_request(matrix: list[list[float]], pb: Any) -> Any:
    """The predict-only request as an OIP ModelInferRequest of the messages module `pb` (Ballast's
    stubs here; any module generated from the OIP proto builds the same bytes): one 2-D FP64
    tensor in fp64_contents."""
    tensor = pb.ModelInferRequest.InferInputTensor(
        name="input-0",
        datatype="FP64",
        shape=[len(matrix), len(matrix[0])],
        contents=pb.InferTensorContents(fp64_contents=[value for row in matrix for value in row]),
    )
    return pb.ModelInferRequest(
        model_name=MODEL_NAME,
        inputs=[tensor],
        outputs=[pb.ModelInferRequest.InferRequestedOutputTensor(name="predict")],
    )


RAW_TYPES = {"INT64": "<i8", "INT32": "<i4", "FP64": "<f8", "FP32": "<f4"}


def ballast_messages() -> Any:
    """Ballast's generated OIP messages, imported only where a server is measured: they and
    tritonclient's register the same names, which one process cannot hold twice."""
    from ballast.serving.proto import grpc_predict_v2_pb2

    return grpc_predict_v2_pb2


def grpc_predictions(response: Any) -> list[Any]:
    """The `predict` output's values from a ModelInferResponse, whether the server sent them as
    raw bytes (raw_output_contents, one entry per output) or in the typed contents."""
    import numpy as np

    for index, output in enumerate(response.outputs):
        if output.name != "predict":
            continue
        if response.raw_output_contents:
            return np.frombuffer(response.raw_output_contents[index], dtype=RAW_TYPES[output.datatype]).tolist()
        contents = output.contents
        for field in ("int64_contents", "int_contents", "fp64_contents", "fp32_contents"):
            if values := list(getattr(contents, field)):
                return values
    raise ValueError(f"no `predict` output in {sorted(output.name for output in response.outputs)}")


def percentiles_ms(latencies: list[float]) -> tuple[float, float]:
    """p50 and p99 in ms, by the nearest rank below (as serve_latency.summary)."""
    picked = serve_latency.summary(latencies, 0, len(latencies))
    return picked["p50_ms"], picked["p99_ms"]


def table(results: list[Measured], labels: dict[str, str]) -> str:
    header = f"{'server':34} {'via':4} {'rows':>4}  {'answer':22} " + (
        f"{'p50 ms':>7} {'p99 ms':>7} {'req/s':>7} {'resp bytes':>10}"
    )
    lines = [header, "-" * len(header)]
    for result in results:
        case = result.case
        answer = "predict + predict_proba" if case.server == "ballast" and case.answer == "default" else "predict"
        errors = f"  ({result.errors} errors)" if result.errors else ""
        lines.append(
            f"{labels[case.server]:34} {case.protocol:4} {case.rows:>4}  {answer:22} {result.p50_ms:7.3f} "
            f"{result.p99_ms:7.3f} {result.requests_per_second:7.0f} {result.response_bytes:>10}{errors}"
        )
    return "\n".join(lines)


# --- the estimator the peers rebuild from Ballast's fitted numbers ------------------------


def fitted_parameters(pipeline: Any) -> dict[str, Any]:
    """The numbers of Ballast's fitted iris pipeline: median imputer (no effect on complete
    rows), standard scaler, logistic regression."""
    numeric = pipeline.named_steps["preprocess"].named_transformers_["numeric"]
    scaler, model = numeric.named_steps["scale"], pipeline.named_steps["model"]
    return {
        "mean": scaler.mean_.tolist(),
        "scale": scaler.scale_.tolist(),
        "coef": model.coef_.tolist(),
        "intercept": model.intercept_.tolist(),
        "classes": model.classes_.tolist(),
    }


def rebuilt_estimator(parameters: dict[str, Any]) -> Any:
    """A scikit-learn Pipeline on a plain feature matrix that predicts what Ballast's does."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler()
    scaler.mean_ = np.array(parameters["mean"])
    scaler.scale_ = np.array(parameters["scale"])
    scaler.var_ = scaler.scale_**2
    scaler.n_features_in_ = len(parameters["mean"])
    model = LogisticRegression()
    model.coef_ = np.array(parameters["coef"])
    model.intercept_ = np.array(parameters["intercept"])
    model.classes_ = np.array(parameters["classes"])
    model.n_features_in_ = len(parameters["mean"])
    return Pipeline([("scale", scaler), ("model", model)])


# --- the peers' sides (run in the peers' venvs) -------------------------------------------


def write_joblib(parameters_file: Path, target: Path) -> None:
    """In MLServer's venv: the estimator as the joblib file its sklearn runtime loads."""
    import joblib

    joblib.dump(rebuilt_estimator(json.loads(parameters_file.read_text())), target)


def serve_kserve(parameters_file: Path, port: int, grpc_port: int) -> None:
    """In KServe's venv: the SDK ModelServer with a minimal custom model (REST and gRPC)."""
    import kserve
    from kserve import InferOutput, InferRequest, InferResponse

    estimator = rebuilt_estimator(json.loads(parameters_file.read_text()))

    class EstimatorModel(kserve.Model):
        def __init__(self) -> None:
            super().__init__(MODEL_NAME)
            self.ready = True

        def predict(self, payload: InferRequest, headers: dict[str, str] | None = None) -> InferResponse:
            predicted = estimator.predict(payload.inputs[0].as_numpy())
            output = InferOutput(name="predict", shape=list(predicted.shape), datatype="INT64")
            output.set_data_from_numpy(predicted.astype("int64"), binary_data=False)
            # KServe's response model requires an id; the request may not carry one
            answer_id = payload.id or str(uuid.uuid4())
            return InferResponse(model_name=MODEL_NAME, infer_outputs=[output], response_id=answer_id)

    kserve.ModelServer(http_port=port, grpc_port=grpc_port, enable_grpc=True, workers=1).start([EstimatorModel()])


# --- the load generator (its own process, pinned to the client's core) --------------------


def timed_loop(port: int, body: bytes, warmup: float, seconds: float) -> dict[str, Any]:
    """One keep-alive connection, one request at a time: warm-up, then `seconds` that count."""
    request = serve_latency.http_request(port, INFER_PATH, body)
    sock, buffer = serve_latency.connect(port), bytearray()
    latencies, errors = [], 0
    begin = time.perf_counter()
    counted_from = begin + warmup
    deadline = counted_from + seconds
    while (started := time.perf_counter()) < deadline:
        status = serve_latency.exchange(sock, buffer, request)
        if started >= counted_from:
            latencies.append(time.perf_counter() - started)
            errors += status != 200
    sock.close()
    return {"latencies": latencies, "errors": errors, "seconds": time.perf_counter() - counted_from}


def timed_grpc_loop(port: int, request_bytes: bytes, warmup: float, seconds: float) -> dict[str, Any]:
    """timed_loop's gRPC twin: one channel (one HTTP/2 connection), one ModelInfer at a time."""
    import grpc

    from ballast.serving.proto import grpc_predict_v2_pb2 as pb
    from ballast.serving.proto import grpc_predict_v2_pb2_grpc as pb_grpc

    request = pb.ModelInferRequest.FromString(request_bytes)
    latencies, errors = [], 0
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        infer = pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer
        begin = time.perf_counter()
        counted_from = begin + warmup
        deadline = counted_from + seconds
        while (started := time.perf_counter()) < deadline:
            try:
                infer(request, timeout=10)
                failed = False
            except grpc.RpcError:
                failed = True
            if started >= counted_from:
                latencies.append(time.perf_counter() - started)
                errors += failed
    return {"latencies": latencies, "errors": errors, "seconds": time.perf_counter() - counted_from}


def generate_load(plan: dict[str, Any]) -> dict[str, Any]:
    """The plan's loops (load_generator's), run by this script in a process of its own pinned to
    the client's core: each body's latencies, errors and counted seconds by its label."""
    command = serve_latency.pinned([sys.executable, __file__, "--load-generator"], serve_latency.LOAD_CORE)
    timeout = len(plan["bodies"]) * (plan["warmup"] + plan["seconds"]) + 60
    done = subprocess.run(command, input=json.dumps(plan), capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout)


def requests_per_second(loop: dict[str, Any]) -> float:
    """The answered requests of one of generate_load's loops per counted second."""
    return len(loop["latencies"]) / loop["seconds"]


def load_generator(plan: dict[str, Any]) -> dict[str, Any]:
    loops = {}
    for label, (protocol, body) in plan["bodies"].items():
        if protocol == "gRPC":
            loops[label] = timed_grpc_loop(plan["grpc_port"], bytes.fromhex(body), plan["warmup"], plan["seconds"])
        else:
            loops[label] = timed_loop(plan["port"], body.encode(), plan["warmup"], plan["seconds"])
    return loops


# --- Ballast's side -----------------------------------------------------------------------


def post(port: int, body: bytes) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("POST", INFER_PATH, body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def start_server(server: str, trained: Any, parameters_file: Path, workdir: Path, port: int, grpc_port: int) -> Any:
    log = workdir / f"{server}.log"
    if server == "ballast":
        return serve_latency.start_ballast(trained, port, log, grpc_port), "/v2/health/ready"
    python = peer_venvs.peer_python(server, PEER_VERSIONS[server], PEER_REQUIREMENTS[server])
    env = {**os.environ, "PYTHONPATH": ""}
    if server == "kserve":
        command = [
            str(python),
            __file__,
            "--serve-kserve",
            str(parameters_file),
            "--port",
            str(port),
            "--grpc-port",
            str(grpc_port),
        ]
    else:
        models = workdir / "mlserver"
        model_dir = models / MODEL_NAME
        model_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [str(python), __file__, "--write-joblib", str(parameters_file), str(model_dir / "model.joblib")],
            check=True,
            env=env,
        )
        (model_dir / "model-settings.json").write_text(
            json.dumps(
                {
                    "name": MODEL_NAME,
                    "implementation": "mlserver_sklearn.SKLearnModel",
                    "parameters": {"uri": "./model.joblib", "version": "v1"},
                }
            )
        )
        settings = {
            "host": "127.0.0.1",
            "http_port": port,
            "grpc_port": grpc_port,
            "metrics_port": serve_latency.free_port(),
            # Single process: the default (one worker process) crashed at start with uvloop 0.23
            # and halves its speed with uvloop 0.21 on this machine (issue 14).
            "parallel_workers": 0,
            "debug": False,
        }
        (models / "settings.json").write_text(json.dumps(settings))
        command = [str(python.parent / "mlserver"), "start", str(models)]
    process = subprocess.Popen(
        serve_latency.pinned(command, serve_latency.SERVER_CORE),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        cwd=workdir,
        env=env,
    )
    return process, f"/v2/models/{MODEL_NAME}/ready"


def first_answer_size(case: Case, body: bytes, port: int, grpc_port: int, expected: list[Any]) -> int:
    """The server's answer to `body`, checked against the bare estimator's predictions: its size."""
    if case.protocol == "gRPC":
        import grpc

        from ballast.serving.proto import grpc_predict_v2_pb2 as pb
        from ballast.serving.proto import grpc_predict_v2_pb2_grpc as pb_grpc

        # a server's gRPC port may open a moment after its REST readiness
        deadline = time.monotonic() + 30
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=30)
            stub = pb_grpc.GRPCInferenceServiceStub(channel)
            while True:
                try:
                    response = stub.ModelInfer(pb.ModelInferRequest.FromString(body), timeout=10)
                    break
                except grpc.RpcError as error:
                    if time.monotonic() > deadline:
                        raise RuntimeError(
                            f"{case.server} answered over gRPC {error.code()}: {error.details()}"
                        ) from None
                    time.sleep(0.5)
        found, size = grpc_predictions(response), response.ByteSize()
    else:
        status, answer = post(port, body)
        if status != 200:
            raise RuntimeError(f"{case.server} answered {status}: {answer[:500]!r}")
        found, size = predictions(json.loads(answer)), len(answer)
    if found != expected:
        raise RuntimeError(
            f"{case.server} predicts otherwise than the bare estimator for {case.rows} rows ({case.protocol})"
        )
    return size


def measure_server(
    server: str, trained: Any, parameters_file: Path, workdir: Path, expected: dict[int, list[Any]], args: Any
) -> list[Measured]:
    port, grpc_port = serve_latency.free_port(), serve_latency.free_port()
    process, ready_path = start_server(server, trained, parameters_file, workdir, port, grpc_port)
    try:
        serve_latency.wait_ready(process, port, ready_path)
        cases = cases_for(server)
        bodies = {
            case: grpc_request(iris_rows(case.rows), ballast_messages()).SerializeToString()
            if case.protocol == "gRPC"
            else infer_body(iris_rows(case.rows), case.answer)
            for case in cases
        }
        sizes = {
            case: first_answer_size(case, body, port, grpc_port, expected[case.rows]) for case, body in bodies.items()
        }
        plan = {
            "port": port,
            "grpc_port": grpc_port,
            "warmup": args.warmup,
            "seconds": args.duration,
            "bodies": {
                str(index): (case.protocol, body.hex() if case.protocol == "gRPC" else body.decode())
                for index, (case, body) in enumerate(bodies.items())
            },
        }
        loops = generate_load(plan)
        results = []
        for index, case in enumerate(bodies):
            loop = loops[str(index)]
            p50, p99 = percentiles_ms(loop["latencies"])
            results.append(Measured(case, p50, p99, requests_per_second(loop), sizes[case], loop["errors"]))
        return results
    finally:
        serve_latency.stop(process)


def bare_predict_ms(estimator: Any, rows: int, repeat: int = 2000) -> float:
    """Median of the rebuilt estimator's predict on a numpy matrix, in process: the floor."""
    import numpy as np

    matrix = np.array(iris_rows(rows))
    for _ in range(100):
        estimator.predict(matrix)
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        estimator.predict(matrix)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e3


def run(args: argparse.Namespace) -> None:
    sys.path[:0] = [str(REPO)]
    from tests.unit.test_serving_harness import iris_frame, trained_model

    load_start = os.getloadavg()
    started = time.time()
    workdir = Path(tempfile.mkdtemp(prefix="ballast-serve-compare-"))
    with contextlib.redirect_stdout(io.StringIO()):  # the trainer's own result line is not a figure
        trained = trained_model(workdir, "iris-logistic", iris_frame(), "sklearn.linear_model.LogisticRegression")
    parameters = fitted_parameters(trained.pipeline())
    parameters_file = workdir / "parameters.json"
    parameters_file.write_text(json.dumps(parameters))
    estimator = rebuilt_estimator(parameters)
    expected = {rows: estimator.predict(iris_rows(rows)).tolist() for rows in ROWS}
    labels = {
        "ballast": "Ballast (`ballast serve`)",
        "mlserver": f"MLServer {MLSERVER_VERSION} sklearn, 1 process",
        "kserve": f"KServe {KSERVE_VERSION} SDK ModelServer",
    }
    results: list[Measured] = []
    failures = []
    for server in args.servers:
        try:
            results += measure_server(server, trained, parameters_file, workdir, expected, args)
        except Exception as error:  # noqa: BLE001 - reported beside the figures
            failures.append(failure_report(server, error, workdir / f"{server}.log"))
    load_end = os.getloadavg()

    print(
        f"Each server alone on core {serve_latency.SERVER_CORE} (taskset); one closed-loop client on one "
        f"keep-alive connection on core {serve_latency.LOAD_CORE}; OIP REST JSON or OIP gRPC, one 2-D FP64 tensor; "
        f"{args.warmup:g} s warm-up, then {args.duration:g} s counted per row"
    )
    print(table(results, labels))
    for failure in failures:
        print(failure)
    print(
        "bare in-process predict of the same estimator on a numpy matrix: "
        f"1 row {bare_predict_ms(estimator, 1):.3f} ms, 100 rows {bare_predict_ms(estimator, 100):.3f} ms"
    )
    print(machine_line(load_start, load_end, started))


def failure_report(server: str, error: Exception, log: Path) -> str:
    """A server that failed to install, start or answer, with its log's tail: shown beside the figures."""
    return f"{server} FAILED: {error}\n{log.read_text()[-1500:] if log.exists() else ''}"


def machine_line(load_start: tuple[float, ...], load_end: tuple[float, ...], started: float) -> str:
    """The load the figures were made under, the CPUs and the run's length since `started` (time.time)."""
    return (
        f"load average (1, 5, 15 min) at the start {' '.join(f'{v:.2f}' for v in load_start)}, "
        f"at the end {' '.join(f'{v:.2f}' for v in load_end)}; {os.cpu_count()} CPUs; "
        f"total {time.time() - started:.0f} s"
    )


def add_timing_options(parser: argparse.ArgumentParser, duration: float, warmup: float) -> None:
    parser.add_argument("--duration", type=float, default=duration, help="counted seconds per row of the table")
    parser.add_argument("--warmup", type=float, default=warmup, help="seconds of requests before counting")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_timing_options(parser, duration=20.0, warmup=3.0)
    parser.add_argument("--servers", nargs="+", default=["ballast", "mlserver", "kserve"])
    figures.add_update_option(parser, FIGURES)
    parser.add_argument("--load-generator", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--write-joblib", nargs=2, type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--serve-kserve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--grpc-port", type=int, help=argparse.SUPPRESS)
    return parser


def main() -> int:
    args = build_parser().parse_args()
    if args.load_generator:
        print(json.dumps(load_generator(json.loads(sys.stdin.read()))))
    elif args.write_joblib:
        write_joblib(*args.write_joblib)
    elif args.serve_kserve:
        serve_kserve(args.serve_kserve, args.port, args.grpc_port)
    else:
        with figures.recording(FIGURES, args.update):
            run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
