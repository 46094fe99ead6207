"""`ballast serve`: the model server a ModelVersion's Deployment runs.

    ballast serve --artifact-uri file:///var/lib/ballast/models/iris/<sha256>/model.skops \\
                  --artifact-sha256 <sha256> [--model-name iris] [--model-version iris-1a2b]

Flags (each falls back to an environment variable):
  --artifact-uri URI        BALLAST_ARTIFACT_URI        the model.skops to serve (required)
  --artifact-sha256 HEX     BALLAST_ARTIFACT_SHA256     its expected sha256 (required)
  --metadata-uri URI        BALLAST_METADATA_URI        default: metadata.json beside the artifact
  --model-name NAME         BALLAST_MODEL_NAME          default: `model` in metadata.json
  --model-version VERSION   BALLAST_MODEL_VERSION       default: the sha256's first 12 digits
  --store URI               BALLAST_STORE_URI           artifact store root (default file:///var/lib/ballast)
  --artifact-max-bytes N    BALLAST_ARTIFACT_MAX_BYTES  a larger artifact is refused (ArtifactTooLarge): bytes
                                                        or a quantity such as 2Gi; the operator passes its
                                                        artifacts.maxBytes (default 2Gi)
  --bind-address ADDRESS    BALLAST_BIND_ADDRESS        default 0.0.0.0
  --port PORT               BALLAST_PORT                default 8080 (0: any free port, logged)
  --grpc-port PORT          BALLAST_GRPC_PORT           the OIP gRPC API's port, default 8081 (0: any free
                                                        port, logged; -1: no gRPC API)
  --termination-log PATH    BALLAST_TERMINATION_LOG     default /dev/termination-log
  --drain-seconds S         BALLAST_DRAIN_SECONDS       after SIGTERM, keep serving this long while
                                                        not ready, so endpoints drop the pod first (default 5)
  --shutdown-timeout S      BALLAST_SHUTDOWN_TIMEOUT    then wait at most this long for in-flight requests (default 20)
  --feedback-token-file P   BALLAST_FEEDBACK_TOKEN_FILE the bearer token feedback needs; without it
                                                        feedback is refused (403)

Limits (defaults in ballast.serving.limits.ServingLimits; docs/serving.md explains each):
  --max-request-bytes N     BALLAST_MAX_REQUEST_BYTES   largest request body (default 4 MiB)
  --max-rows N              BALLAST_MAX_ROWS            rows per request or feedback item (10000)
  --max-json-depth N        BALLAST_MAX_JSON_DEPTH      nesting of a JSON body (32)
  --max-id-length N         BALLAST_MAX_ID_LENGTH       characters of a request or response id (128)
  --prediction-log-size N   BALLAST_PREDICTION_LOG_SIZE responses remembered for feedback by id (10000)
  --prediction-log-bytes N  BALLAST_PREDICTION_LOG_BYTES  estimated bytes they may hold (32 MiB)
  --read-timeout S          BALLAST_READ_TIMEOUT        time to send a body once the headers are in (10)
  --keepalive-timeout S     BALLAST_KEEPALIVE_TIMEOUT   a connection with no request under way is
                                                        closed after this long (5)
  --max-connections N       BALLAST_MAX_CONNECTIONS     open connections; more are answered 503 and
                                                        closed (1024)
  --max-connections-per-client N  BALLAST_MAX_CONNECTIONS_PER_CLIENT  open connections from one
                                                        address; more are answered 503 and closed (256)
  --predict-threads N       BALLAST_PREDICT_THREADS     threads for large requests (2)

Start-up verifies and loads the artifact, reads metadata.json and the training profile (pinned
by the sha256 metadata.json records), runs a warm-up prediction and only then listens, ready.
If the model cannot be served (digest mismatch of the artifact or the profile, untrusted or
pickled artifact, missing artifact or metadata, failed warm-up) it
writes {"reason", "message"} to the termination log and exits 2 without listening; 1 for
anything else unexpected (including a port already in use); 4 for unusable flags.

SIGTERM (or SIGINT): readiness turns false at once, inferences are still answered for
--drain-seconds, then the listener closes, in-flight requests finish, and the process exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import prometheus_client
from aiohttp import web

from ballast.runtime.listening import CappedTCPSite, quiet_client_protocol_errors
from ballast.serving.app import build_server
from ballast.serving.auth import FEEDBACK_TOKEN_FILE_ENV, FeedbackAuth
from ballast.serving.errors import StartupFailure
from ballast.serving.limits import ServingLimits
from ballast.serving.loading import LoadedModel, ModelSource, load_served_model
from ballast.serving.offload import Offload
from ballast.store import DEFAULT_STORE_URI, STORE_URI_ENV, ArtifactStore
from ballast.store.limits import ARTIFACT_MAX_BYTES_ENV, DEFAULT_MAX_ARTIFACT_BYTES, parse_byte_quantity

log = logging.getLogger("ballast.serve")

DEFAULT_TERMINATION_LOG = "/dev/termination-log"
TERMINATION_MESSAGE_LIMIT = 4096
DEFAULT_GRPC_PORT = 8081
NO_GRPC = -1
MAX_PORT = 65535
EXIT_OK, EXIT_UNEXPECTED, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2, 4
"""The same variable the operator reads its own cap from (ballast.settings), passed on to the pod."""


@dataclass(frozen=True)
class ServeOptions:
    source: ModelSource
    store_uri: str
    bind_address: str
    port: int
    termination_log: Path
    drain_seconds: float
    shutdown_timeout: float
    grpc_port: int | None = None
    """The gRPC API's port (0: any); None serves REST only. `ballast serve` defaults to DEFAULT_GRPC_PORT."""
    limits: ServingLimits = field(default_factory=ServingLimits)
    """What run_serve loads the model with; serve() then runs on the loaded service's limits."""
    feedback_token_file: Path | None = None
    max_artifact_bytes: int = DEFAULT_MAX_ARTIFACT_BYTES


LIMIT_OPTIONS: tuple[tuple[str, str, str, type, str], ...] = (
    # flag, environment variable, ServingLimits field, type, help
    ("--max-request-bytes", "BALLAST_MAX_REQUEST_BYTES", "max_request_bytes", int, "largest request body"),
    ("--max-rows", "BALLAST_MAX_ROWS", "max_rows", int, "rows per request or feedback item"),
    ("--max-json-depth", "BALLAST_MAX_JSON_DEPTH", "max_json_depth", int, "nesting of a JSON body"),
    ("--max-id-length", "BALLAST_MAX_ID_LENGTH", "max_id_length", int, "characters of a request or response id"),
    (
        "--prediction-log-size",
        "BALLAST_PREDICTION_LOG_SIZE",
        "prediction_log_entries",
        int,
        "responses remembered for feedback",
    ),
    (
        "--prediction-log-bytes",
        "BALLAST_PREDICTION_LOG_BYTES",
        "prediction_log_bytes",
        int,
        "estimated bytes those responses may hold",
    ),
    ("--read-timeout", "BALLAST_READ_TIMEOUT", "read_timeout_seconds", float, "seconds to send a body"),
    (
        "--keepalive-timeout",
        "BALLAST_KEEPALIVE_TIMEOUT",
        "keepalive_timeout_seconds",
        float,
        "seconds a connection may wait with no request under way",
    ),
    ("--max-connections", "BALLAST_MAX_CONNECTIONS", "max_connections", int, "open connections"),
    (
        "--max-connections-per-client",
        "BALLAST_MAX_CONNECTIONS_PER_CLIENT",
        "max_connections_per_client",
        int,
        "open connections from one address",
    ),
    ("--predict-threads", "BALLAST_PREDICT_THREADS", "predict_threads", int, "threads for large requests"),
)


def parse_serve_args(argv: Sequence[str], environ: Mapping[str, str]) -> ServeOptions:
    parser = argparse.ArgumentParser(
        prog="ballast serve", description="Serve one model version over the Open Inference Protocol."
    )

    def option(
        flag: str, env: str, default: str | None = None, kind: type = str, help: str = "", dest: str | None = None
    ) -> None:
        # An environment value is a string default, which argparse converts with `type` as if it
        # were given on the command line: a malformed one is a usage error, not a traceback.
        parser.add_argument(
            flag,
            default=environ[env] if environ.get(env) else default,
            type=kind,
            dest=dest or flag.removeprefix("--").replace("-", "_"),
            help=f"{help} (${env}{f', default {default}' if default is not None else ''})",
        )

    option("--artifact-uri", "BALLAST_ARTIFACT_URI", help="the model artifact")
    option("--artifact-sha256", "BALLAST_ARTIFACT_SHA256", help="its expected sha256")
    option("--metadata-uri", "BALLAST_METADATA_URI", help="metadata.json (default: beside the artifact)")
    option("--model-name", "BALLAST_MODEL_NAME", help="the served model's name (default: from metadata.json)")
    option("--model-version", "BALLAST_MODEL_VERSION", help="its version (default: sha256 prefix)")
    option("--store", STORE_URI_ENV, DEFAULT_STORE_URI, help="artifact store root")
    option(
        "--artifact-max-bytes",
        ARTIFACT_MAX_BYTES_ENV,
        DEFAULT_MAX_ARTIFACT_BYTES,
        byte_quantity,
        help="largest artifact read, bytes or a quantity such as 2Gi",
    )
    option("--bind-address", "BALLAST_BIND_ADDRESS", "0.0.0.0", help="listen address")
    option("--port", "BALLAST_PORT", 8080, int, help="listen port, 0 for any")
    option("--grpc-port", "BALLAST_GRPC_PORT", DEFAULT_GRPC_PORT, int, help=f"gRPC port, 0 for any, {NO_GRPC} for none")
    option(
        "--termination-log", "BALLAST_TERMINATION_LOG", DEFAULT_TERMINATION_LOG, help="where a start-up failure goes"
    )
    option("--drain-seconds", "BALLAST_DRAIN_SECONDS", 5.0, float, help="not-ready time before closing after SIGTERM")
    option("--shutdown-timeout", "BALLAST_SHUTDOWN_TIMEOUT", 20.0, float, help="wait for in-flight requests")
    option("--feedback-token-file", FEEDBACK_TOKEN_FILE_ENV, help="bearer token feedback needs (else refused)")
    defaults = ServingLimits()
    for flag, env, name, kind, text in LIMIT_OPTIONS:
        option(flag, env, getattr(defaults, name), kind, help=text, dest=name)
    args = parser.parse_args(list(argv))
    if not args.artifact_uri or not args.artifact_sha256:
        parser.error(
            "--artifact-uri and --artifact-sha256 (or $BALLAST_ARTIFACT_URI and $BALLAST_ARTIFACT_SHA256) are required"
        )
    if not NO_GRPC <= args.grpc_port <= MAX_PORT:
        parser.error(f"--grpc-port must be a port number, 0 for any or {NO_GRPC} for none, got {args.grpc_port}")
    try:
        limits = ServingLimits(**{name: getattr(args, name) for _, _, name, _, _ in LIMIT_OPTIONS})
    except ValueError as error:
        parser.error(str(error))
    return ServeOptions(
        source=ModelSource(
            artifact_uri=args.artifact_uri,
            sha256=args.artifact_sha256,
            metadata_uri=args.metadata_uri,
            name=args.model_name,
            version=args.model_version,
        ),
        store_uri=args.store,
        bind_address=args.bind_address,
        port=args.port,
        grpc_port=None if args.grpc_port == NO_GRPC else args.grpc_port,
        termination_log=Path(args.termination_log),
        drain_seconds=args.drain_seconds,
        shutdown_timeout=args.shutdown_timeout,
        limits=limits,
        feedback_token_file=Path(args.feedback_token_file) if args.feedback_token_file else None,
        max_artifact_bytes=args.artifact_max_bytes,
    )


def byte_quantity(text: str) -> int:
    """argparse's type for a byte count: the chart writes `2Gi`, a person may write 2147483648."""
    try:
        return parse_byte_quantity(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def termination_message(reason: str, message: str) -> bytes:
    """{"reason", "message"} as JSON within the kubelet's 4096-byte limit."""
    document = {"reason": reason, "message": message}
    encoded = json.dumps(document, ensure_ascii=False).encode()
    while len(encoded) > TERMINATION_MESSAGE_LIMIT:
        document["message"] = document["message"][: len(document["message"]) * 3 // 4] + " ..."
        encoded = json.dumps(document, ensure_ascii=False).encode()
    return encoded


def write_termination_message(path: Path, reason: str, message: str) -> None:
    try:
        path.write_bytes(termination_message(reason, message))
    except OSError as error:
        log.error("cannot write the termination log %s: %s", path, error)


LINGERING_SECONDS = 2.0
"""After a refusal, how long the rest of a body is read and dropped (so the client gets the answer
rather than a reset), where aiohttp's default would hold a slow sender 10 s more."""


async def serve(
    loaded: LoadedModel,
    options: ServeOptions,
    stop: asyncio.Event,
    on_listening: Callable[[str, int], None] | None = None,
    feedback_auth: FeedbackAuth | None = None,
) -> None:
    """Listen until `stop` is set, then drain and shut down gracefully, within the limits the
    model was loaded with (load_served_model). Without `feedback_auth`, feedback is refused."""
    limits = loaded.service.limits
    quiet_client_protocol_errors()
    offload = Offload(limits)
    server = build_server(
        loaded.service,
        loaded.metrics,
        loaded.state,
        offload,
        feedback_auth or FeedbackAuth(),
        loaded.card,
        access_log=None,
        keepalive_timeout=limits.keepalive_timeout_seconds,
        lingering_time=LINGERING_SECONDS,
    )
    runner = web.ServerRunner(server, handle_signals=False, shutdown_timeout=options.shutdown_timeout)
    await runner.setup()
    grpc_server = None
    try:
        site = CappedTCPSite(
            runner,
            options.bind_address,
            options.port,
            max_connections=limits.max_connections,
            max_connections_per_client=limits.max_connections_per_client,
        )
        await site.start()
        host, port = runner.addresses[0][:2]
        grpc_listening = ""
        if options.grpc_port is not None:
            grpc_server, bound = await start_grpc(loaded, options.bind_address, options.grpc_port, offload)
            grpc_listening = f" and grpc://{options.bind_address}:{bound}"
        loaded.state.set_ready(True)
        log.info(
            "ready: serving %s version %s on http://%s:%d%s",
            loaded.service.signature.name,
            loaded.service.signature.version,
            host,
            port,
            grpc_listening,
        )
        if on_listening is not None:
            on_listening(host, port)
        await stop.wait()
        # Readiness first, so the endpoints controller drops the pod while it still answers.
        loaded.state.set_ready(False)
        log.info("stopping: not ready; draining for %.1fs", options.drain_seconds)
        await asyncio.sleep(options.drain_seconds)
        await site.stop()
        # gRPC's stop refuses new calls at once and lets those under way finish within the grace.
        grpc_stopped = asyncio.create_task(grpc_server.stop(options.shutdown_timeout)) if grpc_server else None
        # aiohttp's own shutdown stops reading from every connection, which would strand a
        # request whose body is still arriving; so wait for those first.
        if not await loaded.state.wait_idle(options.shutdown_timeout):
            log.warning(
                "%d request(s) still in flight after %.1fs; closing them",
                loaded.state.in_flight,
                options.shutdown_timeout,
            )
        if grpc_stopped is not None:
            await grpc_stopped
    finally:
        if grpc_server is not None:
            await grpc_server.stop(None)
        # Closes idle keep-alive connections, waits for handlers, releases everything.
        await runner.cleanup()
        offload.close()
        log.info("stopped")


async def start_grpc(loaded: LoadedModel, address: str, port: int, offload: Offload) -> tuple[Any, int]:
    """The gRPC API listening on `address`:`port` (0: any), and the port it got."""
    # Imported only when serving gRPC: its messages are in the protocol's `inference` package,
    # as other OIP clients' are (tritonclient's), and one process can register those names once.
    from ballast.serving.grpcserver import build_grpc_server

    server = build_grpc_server(loaded.service, loaded.metrics, loaded.state, offload)
    try:
        bound = server.add_insecure_port(f"[{address}]:{port}" if ":" in address else f"{address}:{port}")
    except RuntimeError as error:  # gRPC's "Failed to bind": the same failure as REST's OSError
        raise OSError(f"cannot listen for gRPC on {address}:{port}: {error}") from None
    await server.start()
    return server, bound


async def _serve_until_signalled(loaded: LoadedModel, options: ServeOptions, feedback_auth: FeedbackAuth) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await serve(loaded, options, stop, feedback_auth=feedback_auth)


def run_serve(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> int:
    """`ballast serve`: returns the process exit code."""
    environ = os.environ if environ is None else environ
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # One series per counter, not two: the _created gauges only double what a scrape carries.
    prometheus_client.disable_created_metrics()
    try:
        options = parse_serve_args(argv, environ)
    except SystemExit as exit_:
        return EXIT_OK if exit_.code == 0 else EXIT_USAGE
    try:
        feedback_auth = (
            FeedbackAuth.from_file(options.feedback_token_file) if options.feedback_token_file else FeedbackAuth()
        )
        if feedback_auth.token is None:
            log.warning("no feedback token (--feedback-token-file, $%s): feedback is refused", FEEDBACK_TOKEN_FILE_ENV)
        store = ArtifactStore(options.store_uri, environ=environ)
        loaded = load_served_model(store, options.source, options.limits, max_artifact_bytes=options.max_artifact_bytes)
    except StartupFailure as failure:
        log.error("cannot serve the model (%s): %s", failure.reason, failure)
        write_termination_message(options.termination_log, failure.reason, str(failure))
        return EXIT_REFUSED
    except Exception as error:  # noqa: BLE001 - the pod must say why it died
        log.exception("start-up failed")
        write_termination_message(options.termination_log, "ServerFailed", f"{type(error).__name__}: {error}")
        return EXIT_UNEXPECTED
    # The model and the libraries are garbage the collector would walk on every full
    # collection (tens of ms, a p99 spike); they live as long as the process, so freeze them.
    gc.collect()
    gc.freeze()
    try:
        asyncio.run(_serve_until_signalled(loaded, options, feedback_auth))
    except OSError as error:
        log.error("cannot listen on %s:%s: %s", options.bind_address, options.port, error)
        write_termination_message(options.termination_log, "ListenFailed", str(error))
        return EXIT_UNEXPECTED
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(run_serve(sys.argv[1:]))
