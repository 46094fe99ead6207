"""The model server's HTTP layer chosen by measurement: aiohttp beside uvicorn, granian and uvloop.

    .venv/bin/python benchmarks/http_layers.py [--duration 10] [--warmup 2] [--rounds 3] [--candidates ...] [--update]

Ballast's model server runs on aiohttp's web server on the standard asyncio loop. Each candidate
here does the same minimal work with no model, so what differs is the HTTP layer and the event
loop alone: it takes POST /v2/models/model/infer with an OIP JSON body (Content-Length), reads the
whole body, `json.loads` it and answers 200 with one fixed JSON document of about 160 bytes (an
OIP infer answer: model_name, model_version, id, one output tensor), Content-Type
application/json, on a keep-alive connection; GET /v2/health/ready answers {"ready": true}.

  aiohttp         aiohttp (the version and dependencies Ballast pins), its low-level web.Server
                  (no Application: the handler routes by path) on a ServerRunner and TCPSite, as
                  `ballast serve` starts it, asyncio loop
  aiohttp-app     the same aiohttp with a web.Application, its router and AppRunner: what
                  `ballast serve` ran on before
  aiohttp-uvloop  the low-level server on uvloop
  uvicorn         uvicorn with httptools, a bare ASGI callable (no framework), asyncio loop
  uvicorn-uvloop  the same on uvloop
  granian         granian (HTTP in Rust) with its RSGI interface, one worker, one Rust runtime
                  thread, asyncio loop
  granian-uvloop  the same on uvloop
  floor           a bare asyncio.Protocol driving httptools' request parser on uvloop: not a
                  candidate (hand-written HTTP), but what the Python event loop itself costs

Each candidate is installed into a virtualenv of its own (peer_venvs.py; never into Ballast's),
runs alone pinned to core 0, and is driven as serve_compare.py drives the model servers: one
closed-loop client on one keep-alive connection, pinned to core 1, posting serve_compare's OIP
body of 1 and then 100 iris rows for --warmup seconds, then for seconds that count. Each server's
first answer is checked (status 200, the fixed JSON) before counting. The counted --duration is
split into --rounds rounds in which the candidates take turns (every other round in reverse
order), each started afresh: on this shared machine other work comes in spells of seconds, and
taking turns spreads them over every candidate instead of landing on whichever ran then. The
percentiles and the rate pool a candidate's rounds; each round's rate is shown beside them.

Prints its figures (one table, the load average at the start and the end); asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import figures
import peer_venvs
import serve_compare
import serve_latency

REPO = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
CONSTRAINTS = REPO / "operator" / "constraints.txt"
INFER_PATH = serve_compare.INFER_PATH
READY_PATH = "/v2/health/ready"
ROWS = serve_compare.ROWS
ANSWER = json.dumps(
    {
        "model_name": serve_compare.MODEL_NAME,
        "model_version": "1",
        "id": "3f2b9c1e-6a47-4d8e-9b1a-0c5d7e2f4a61",
        "outputs": [{"name": "predict", "shape": [1], "datatype": "INT64", "data": [0]}],
    },
    separators=(",", ":"),
).encode()
READY = b'{"ready":true}'
JSON_TYPE = "application/json"
# aiohttp with the packages it requires, as Ballast's image has them (operator/constraints.txt)
AIOHTTP_STACK = ("aiohttp", "aiohappyeyeballs", "aiosignal", "attrs", "frozenlist", "multidict", "propcache", "yarl")
UVLOOP = "uvloop==0.23.0"
UVICORN = ("uvicorn==0.55.0", "httptools==0.9.0")
GRANIAN = "granian==2.8.9"
HTTPTOOLS = "httptools==0.9.0"
FIGURES = figures.Section("http_layers", figures.BENCHMARKS_DOC)


@dataclass(frozen=True)
class Candidate:
    """One HTTP layer on one event loop, and what its virtualenv holds."""

    name: str  # --candidates and --serve take it
    label: str  # the table shows it
    server: str  # aiohttp, uvicorn, granian or floor: the serve_* function that runs it
    loop: str  # asyncio or uvloop
    requirements: tuple[str, ...]  # the first names the server's own release

    @property
    def version(self) -> str:
        return version_of(self.requirements[0])


def version_of(requirement: str) -> str:
    """The release a `name==version` requirement pins."""
    return requirement.partition("==")[2]


@dataclass(frozen=True)
class Measured:
    candidate: Candidate
    rows: int
    p50_ms: float
    p99_ms: float
    requests_per_second: float
    errors: int
    rates_by_round: tuple[float, ...] = ()


# --- the candidates and the table (pure) ----------------------------------------------------


def ballast_pins(names: tuple[str, ...], constraints: str) -> tuple[str, ...]:
    """`name==version` for each of `names` as the constraints file pins it, in the order asked."""
    pins = {}
    for line in constraints.splitlines():
        name, separator, version = line.split("#")[0].strip().partition("==")
        if separator:
            pins[name.strip().lower()] = version.strip()
    missing = [name for name in names if name.lower() not in pins]
    if missing:
        raise ValueError(f"not pinned in the constraints: {', '.join(missing)}")
    return tuple(f"{name}=={pins[name.lower()]}" for name in names)


def candidates(constraints: str) -> dict[str, Candidate]:
    aiohttp = ballast_pins(AIOHTTP_STACK, constraints)
    aiohttp_version, uvicorn_version, granian_version = map(version_of, (aiohttp[0], UVICORN[0], GRANIAN))
    listed = [
        Candidate("aiohttp", f"aiohttp {aiohttp_version} web.Server, asyncio (Ballast)", "aiohttp", "asyncio", aiohttp),
        Candidate(
            "aiohttp-app", f"aiohttp {aiohttp_version} web.Application, asyncio", "aiohttp-app", "asyncio", aiohttp
        ),
        Candidate(
            "aiohttp-uvloop", f"aiohttp {aiohttp_version} web.Server, uvloop", "aiohttp", "uvloop", (*aiohttp, UVLOOP)
        ),
        Candidate("uvicorn", f"uvicorn {uvicorn_version} httptools, bare ASGI, asyncio", "uvicorn", "asyncio", UVICORN),
        Candidate(
            "uvicorn-uvloop",
            f"uvicorn {uvicorn_version} httptools, bare ASGI, uvloop",
            "uvicorn",
            "uvloop",
            (*UVICORN, UVLOOP),
        ),
        Candidate("granian", f"granian {granian_version} RSGI, asyncio", "granian", "asyncio", (GRANIAN,)),
        Candidate("granian-uvloop", f"granian {granian_version} RSGI, uvloop", "granian", "uvloop", (GRANIAN, UVLOOP)),
        Candidate("floor", "floor: asyncio.Protocol + httptools, uvloop", "floor", "uvloop", (HTTPTOOLS, UVLOOP)),
    ]
    return {candidate.name: candidate for candidate in listed}


CANDIDATES = candidates(CONSTRAINTS.read_text(encoding="utf-8"))


def round_order(names: list[str], round_index: int) -> list[str]:
    """The candidates in the order one round measures them: every other round backwards, so
    none is always the first after a quiet spell or the last before a busy one."""
    return list(reversed(names)) if round_index % 2 else list(names)


def pooled(candidate: Candidate, rows: int, loops: list[dict[str, Any]]) -> Measured:
    """One table row from a candidate's loops at `rows` (one per round): percentiles and rate
    over all counted requests together, and each round's rate to show how far they spread."""
    latencies = [latency for loop in loops for latency in loop["latencies"]]
    p50, p99 = serve_compare.percentiles_ms(latencies)
    return Measured(
        candidate,
        rows,
        p50,
        p99,
        len(latencies) / sum(loop["seconds"] for loop in loops),
        sum(loop["errors"] for loop in loops),
        tuple(serve_compare.requests_per_second(loop) for loop in loops),
    )


def table(results: list[Measured]) -> str:
    width = max([len("candidate"), *(len(result.candidate.label) for result in results)])
    header = f"{'candidate':{width}} {'rows':>4} {'p50 ms':>7} {'p99 ms':>7} {'req/s':>7}  req/s by round"
    lines = [header, "-" * len(header)]
    for result in results:
        errors = f"  ({result.errors} errors)" if result.errors else ""
        lines.append(
            f"{result.candidate.label:{width}} {result.rows:>4} {result.p50_ms:7.3f} {result.p99_ms:7.3f} "
            f"{result.requests_per_second:7.0f}  {' '.join(f'{rate:.0f}' for rate in result.rates_by_round)}{errors}"
        )
    return "\n".join(lines)


# --- the servers (each run in its candidate's virtualenv: `--serve <name> --port N`) ---------


def answer_for(path: str, body: bytes) -> bytes:
    """The work every candidate does: the infer body parsed as JSON and answered with the fixed
    document; readiness answered as such."""
    if path == INFER_PATH:
        json.loads(body)
        return ANSWER
    return READY


def run_on(loop: str, main: Coroutine[Any, Any, None]) -> None:
    if loop == "uvloop":
        import uvloop

        uvloop.run(main)
    else:
        asyncio.run(main)


def serve_aiohttp(port: int, loop: str) -> None:
    """aiohttp's low-level server routing by path on a ServerRunner without access log, as
    `ballast serve` runs its own (ballast.serving.app.build_server)."""
    from aiohttp import web

    async def handle(request: web.BaseRequest) -> web.Response:
        body = await request.read() if request.method == "POST" else b""
        return web.Response(body=answer_for(request.path, body), content_type=JSON_TYPE)

    async def main() -> None:
        runner = web.ServerRunner(web.Server(handle, access_log=None))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        await asyncio.Event().wait()

    run_on(loop, main())


def serve_aiohttp_app(port: int, loop: str) -> None:
    """One route per path on a web.Application and AppRunner without access log."""
    from aiohttp import web

    async def infer(request: web.Request) -> web.Response:
        return web.Response(body=answer_for(INFER_PATH, await request.read()), content_type=JSON_TYPE)

    async def ready(_: web.Request) -> web.Response:
        return web.Response(body=READY, content_type=JSON_TYPE)

    async def main() -> None:
        app = web.Application()
        app.router.add_post(INFER_PATH, infer)
        app.router.add_get(READY_PATH, ready)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        await asyncio.Event().wait()

    run_on(loop, main())


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A bare ASGI callable: the body read to its end, then one answer."""
    body, more = b"", True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    answer = answer_for(scope["path"], body)
    headers = [(b"content-type", JSON_TYPE.encode()), (b"content-length", str(len(answer)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": answer})


def serve_uvicorn(port: int, loop: str) -> None:
    import uvicorn

    uvicorn.run(
        asgi_app,
        host="127.0.0.1",
        port=port,
        loop=loop,
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
    )


async def rsgi_app(scope: Any, protocol: Any) -> None:
    """A bare RSGI callable: `await protocol()` is the whole body."""
    answer = answer_for(scope.path, await protocol())
    protocol.response_bytes(200, [("content-type", JSON_TYPE)], answer)


def serve_granian(port: int, loop: str) -> None:
    from granian import Granian

    Granian(
        # granian imports its target by name; this file's directory is put on its path
        f"{Path(__file__).stem}:rsgi_app",
        address="127.0.0.1",
        port=port,
        interface="rsgi",
        workers=1,
        runtime_threads=1,
        blocking_threads=1,
        loop=loop,
        http="1",
        websockets=False,
        log_access=False,
        working_dir=HERE,
    ).serve()


def response_bytes(answer: bytes) -> bytes:
    return f"HTTP/1.1 200 OK\r\nContent-Type: {JSON_TYPE}\r\nContent-Length: {len(answer)}\r\n\r\n".encode() + answer


def serve_floor(port: int, loop: str) -> None:
    """HTTP/1.1 by hand on httptools' parser: keep-alive always, no date or server header."""
    import httptools

    class Connection(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:
            self.transport = transport
            self.parser = httptools.HttpRequestParser(self)
            self.url, self.body = b"", bytearray()

        def data_received(self, data: bytes) -> None:
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserError:
                self.transport.close()

        def on_message_begin(self) -> None:
            self.url, self.body = b"", bytearray()

        def on_url(self, url: bytes) -> None:
            self.url += url

        def on_body(self, body: bytes) -> None:
            self.body += body

        def on_message_complete(self) -> None:
            self.transport.write(response_bytes(answer_for(self.url.decode(), bytes(self.body))))

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(Connection, "127.0.0.1", port)
        await server.serve_forever()

    run_on(loop, main())


SERVERS = {
    "aiohttp": serve_aiohttp,
    "aiohttp-app": serve_aiohttp_app,
    "uvicorn": serve_uvicorn,
    "granian": serve_granian,
    "floor": serve_floor,
}


# --- the measurement (in Ballast's virtualenv) ------------------------------------------------


def start(candidate: Candidate, port: int, log: Path) -> subprocess.Popen:
    python = peer_venvs.peer_python(f"http-{candidate.name}", candidate.version, candidate.requirements)
    command = [str(python), __file__, "--serve", candidate.name, "--port", str(port)]
    return subprocess.Popen(
        serve_latency.pinned(command, serve_latency.SERVER_CORE),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        cwd=HERE,
        env={**os.environ, "PYTHONPATH": ""},
    )


def measure(candidate: Candidate, bodies: dict[int, bytes], log: Path, warmup: float, seconds: float) -> dict[int, Any]:
    """One round of one candidate: started alone, its answers checked, then one load generator
    loop per body; the loops by row count."""
    port = serve_latency.free_port()
    process = start(candidate, port, log)
    try:
        serve_latency.wait_ready(process, port, READY_PATH)
        for rows, body in bodies.items():
            status, answer = serve_compare.post(port, body)
            if (status, answer) != (200, ANSWER):
                raise RuntimeError(f"{candidate.name} answered {status} to {rows} rows: {answer[:500]!r}")
        plan = {
            "port": port,
            "warmup": warmup,
            "seconds": seconds,
            "bodies": {str(rows): ("REST", body.decode()) for rows, body in bodies.items()},
        }
        loops = serve_compare.generate_load(plan)
        return {rows: loops[str(rows)] for rows in bodies}
    finally:
        serve_latency.stop(process)


def report(args: argparse.Namespace) -> None:
    load_start = os.getloadavg()
    started = time.time()
    workdir = Path(tempfile.mkdtemp(prefix="ballast-http-layers-"))
    bodies = {rows: serve_compare.infer_body(serve_compare.iris_rows(rows), "predict") for rows in ROWS}
    loops: dict[str, list[dict[int, Any]]] = {name: [] for name in args.candidates}
    failures = {}
    for round_index in range(args.rounds):
        for name in round_order(args.candidates, round_index):
            if name in failures:
                continue
            log = workdir / f"{name}-{round_index + 1}.log"
            try:
                loops[name].append(measure(CANDIDATES[name], bodies, log, args.warmup, args.duration / args.rounds))
            except Exception as error:  # noqa: BLE001 - reported beside the figures
                failures[name] = serve_compare.failure_report(f"{name} (round {round_index + 1})", error, log)
    load_end = os.getloadavg()
    results = [
        pooled(CANDIDATES[name], rows, [round_loops[rows] for round_loops in loops[name]])
        for name in args.candidates
        if name not in failures
        for rows in bodies
    ]

    print(
        f"Each HTTP layer alone on core {serve_latency.SERVER_CORE} (taskset), in its own virtualenv, Python "
        f"{platform.python_version()}; one closed-loop client on one keep-alive connection on core "
        f"{serve_latency.LOAD_CORE}; POST {INFER_PATH} with an OIP JSON body of {' or '.join(map(str, ROWS))} "
        f"iris rows ({' and '.join(f'{len(body)}' for body in bodies.values())} bytes), read and json.loads'd, "
        f"answered with a fixed {len(ANSWER)}-byte JSON; {args.rounds} rounds, each starting every candidate "
        f"afresh in turn (every other round in reverse order): {args.warmup:g} s warm-up, then "
        f"{args.duration / args.rounds:g} s counted per row; the percentiles and req/s pool the rounds' "
        f"{args.duration:g} s"
    )
    print(table(results))
    for failure in failures.values():
        print(failure)
    print(serve_compare.machine_line(load_start, load_end, started))


def rounds(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of rounds of at least 1")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    serve_compare.add_timing_options(parser, duration=10.0, warmup=2.0)
    parser.add_argument(
        "--rounds", type=rounds, default=3, help="rounds the counted seconds are split into, candidates taking turns"
    )
    parser.add_argument("--candidates", nargs="+", choices=list(CANDIDATES), default=list(CANDIDATES))
    figures.add_update_option(parser, FIGURES)
    parser.add_argument("--serve", choices=list(CANDIDATES), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    return parser


def run(args: argparse.Namespace) -> None:
    if args.serve:  # in the candidate's virtualenv, started by `start`
        candidate = CANDIDATES[args.serve]
        SERVERS[candidate.server](args.port, candidate.loop)
    else:
        report(args)


if __name__ == "__main__":
    sys.exit(figures.run_benchmark(FIGURES, build_parser(), run))
