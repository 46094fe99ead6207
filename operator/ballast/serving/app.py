"""The HTTP face of a ModelService: Open Inference Protocol REST routes, feedback and /metrics.

    GET  /v2/health/live | /v2/health/ready | /v2
    GET  /v2/models/{name}[/versions/{version}]            model metadata
    GET  /v2/models/{name}[/versions/{version}]/ready
    GET  /v2/models/{name}[/versions/{version}]/card       the model card, text/markdown (404 if none)
    POST /v2/models/{name}[/versions/{version}]/infer
    POST /v2/models/{name}[/versions/{version}]/feedback
    GET  /metrics
    GET  /metrics/reference                                 the training data's distribution
    GET  /metrics/reference?timeColumn=&periodSeconds=|fraction=   that of its newest part

An infer request may carry its tensors as binary data after the JSON, and ask for its outputs
that way (the binary tensor data extension, ballast.serving.binary: tritonclient's default).

Every refusal is `{"error": "<message>"}` with a 4xx status (500 only for a fault of the
server itself, which is logged with its traceback; 503 when it is too busy). A bad request
raises before it touches shared state, so it cannot disturb the requests around it.

What a client can make the server hold is bounded (ballast.serving.limits): the body by its
Content-Length before a byte is read, and its arrival by a read deadline (408); a large body
is parsed and predicted in a worker thread, so the event loop keeps answering health probes
and other requests while it is computed; feedback needs the bearer token (ballast.serving.auth).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import hdrs, web

from ballast.build.serving import REFERENCE_PATH
from ballast.drift.newest import newest_part_of_query
from ballast.serving import binary
from ballast.serving.auth import CHALLENGE, FeedbackAuth
from ballast.serving.errors import (
    ClientClosedRequest,
    InferenceError,
    PayloadTooLarge,
    RequestTimeout,
    Unauthorized,
    UnsupportedMediaType,
)
from ballast.serving.jsonbody import parse_json
from ballast.serving.metrics import CONTENT_TYPE, ServingMetrics
from ballast.serving.offload import Offload
from ballast.serving.protocol import InferResponse, server_metadata
from ballast.serving.service import ModelService

log = logging.getLogger(__name__)

JSON = "application/json"
MARKDOWN = "text/markdown"
T = TypeVar("T")


@dataclass
class ServerState:
    """Ready once the model is loaded and warmed up; not ready again once draining starts."""

    ready: list[bool]
    """A one-element list shared with the metrics collector."""
    in_flight: int = 0
    """Requests whose handler has started and not answered (a body may still be arriving)."""

    async def wait_idle(self, timeout: float) -> bool:
        """True once no request is in flight; False if `timeout` seconds pass first."""
        deadline = time.monotonic() + timeout
        while self.in_flight and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        return not self.in_flight

    @property
    def is_ready(self) -> bool:
        return self.ready[0]

    def set_ready(self, value: bool) -> None:
        self.ready[0] = value


_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
"""Made once: json.dumps with options would build an encoder for every answer."""


def _json_bytes(document: Any) -> bytes:
    return _ENCODER.encode(document).encode()


def _json(document: Any, status: int = 200) -> web.Response:
    return web.Response(body=_json_bytes(document), status=status, content_type=JSON)


def _infer_response(answer: InferResponse) -> web.Response:
    if not answer.binary_outputs:
        return _json(answer.document)
    header = _json_bytes(answer.document)
    response = web.Response(body=b"".join((header, *answer.binary_outputs)), content_type=binary.MEDIA_TYPE)
    response.headers[binary.HEADER] = str(len(header))
    return response


def _error(message: str, status: int) -> web.Response:
    return _json({"error": message}, status)


async def _answer(response: web.Response) -> web.Response:
    return response


def check_body_headers(request: web.BaseRequest, max_bytes: int, binary_allowed: bool = False) -> None:
    """Refuse what the headers already say is wrong, before reading the body. A body with binary
    tensors (`binary_allowed` and the binary header given) may also say it is octet-stream."""
    media_type = request.content_type  # application/octet-stream when absent
    framed = binary_allowed and binary.HEADER in request.headers and media_type == binary.MEDIA_TYPE
    if request.headers.get(hdrs.CONTENT_TYPE) and not (media_type == JSON or media_type.endswith("+json") or framed):
        raise UnsupportedMediaType(f"the body must be JSON (Content-Type: {JSON}), not {media_type[:64]!r}")
    if request.headers.get(hdrs.CONTENT_ENCODING, "identity").strip().lower() != "identity":
        raise UnsupportedMediaType("a compressed body is not accepted; send it uncompressed")
    length = request.content_length
    if length is not None and length > max_bytes:
        raise PayloadTooLarge(f"the request body is larger than {max_bytes} bytes ({length})")


Route = tuple[str, str, Callable[..., Awaitable[web.StreamResponse]]]
"""(method, endpoint, handler): the endpoint is the `endpoint` label its requests are counted under."""

MODELS_PREFIX = "/v2/models/"


def model_route(path: str) -> tuple[str | None, str, str | None] | None:
    """(action, name, version) of a path under /v2/models/{name}[/versions/{version}][/{action}]
    (action None for the model's metadata), or None if it is not one."""
    if not path.startswith(MODELS_PREFIX):
        return None
    parts = path[len(MODELS_PREFIX) :].split("/")
    name, rest = parts[0], parts[1:]
    version = None
    if len(rest) >= 2 and rest[0] == "versions":
        version, rest = rest[1], rest[2:]
    if not name or version == "" or len(rest) > 1:
        return None
    return (rest[0] if rest else None), name, version


def build_server(
    service: ModelService,
    metrics: ServingMetrics,
    state: ServerState,
    offload: Offload,
    feedback_auth: FeedbackAuth | None = None,
    card: bytes | None = None,
    **server_options: Any,
) -> web.Server:
    """aiohttp's low-level server for `service`'s routes, bounded by the service's own limits (one
    set for the whole server); `server_options` go to aiohttp (keepalive_timeout, access_log...).
    Without `feedback_auth`, feedback is refused; without `card`, the card route is 404. Large
    requests go to `offload`, which its owner closes (it is shared with the gRPC API).

    No web.Application: with its router and the error middleware this server had, `ballast serve`
    answered about 0.03 ms slower (benchmarks/serve_compare.py, Ballast alone, before and after);
    without a middleware, benchmarks/http_layers.py measures the Application alone at 0.006 ms."""
    limits = service.limits
    feedback_auth = feedback_auth or FeedbackAuth()

    async def read_body(request: web.BaseRequest) -> bytes:
        if request.content.is_eof():  # it all came with the headers: nothing to wait for
            return await request.read()
        try:
            async with asyncio.timeout(limits.read_timeout_seconds):
                return await request.read()
        except TimeoutError:
            raise RequestTimeout(f"the request body did not arrive within {limits.read_timeout_seconds:g}s") from None
        except ConnectionResetError:  # aiohttp's "Connection lost": the client hung up mid-body
            raise ClientClosedRequest("the client closed the connection before its body arrived") from None

    async def compute(request: web.BaseRequest, work: Callable[[bytes], T], binary_allowed: bool = False) -> T:
        """`work` on the body: on the loop for a small body, in a worker thread otherwise."""
        check_body_headers(request, limits.max_request_bytes, binary_allowed)
        if offload.is_small(request.content_length):
            return work(await read_body(request))
        async with offload.turn():
            body = await read_body(request)
            return await offload.run(lambda: work(body))

    async def live(_: web.BaseRequest) -> web.Response:
        return _json({"live": True})

    async def ready(_: web.BaseRequest) -> web.Response:
        return _json({"ready": state.is_ready}, 200 if state.is_ready else 503)

    async def server(_: web.BaseRequest) -> web.Response:
        return _json(server_metadata())

    async def model(_: web.BaseRequest, name: str, version: str | None) -> web.Response:
        service.check_model(name, version)
        return _json(service.metadata)

    async def model_ready(_: web.BaseRequest, name: str, version: str | None) -> web.Response:
        service.check_model(name, version)
        return _json({"name": service.signature.name, "ready": state.is_ready}, 200 if state.is_ready else 503)

    async def model_card(_: web.BaseRequest, name: str, version: str | None) -> web.Response:
        service.check_model(name, version)
        if card is None:
            return _error(f"model {service.signature.name} has no model card", 404)
        return web.Response(body=card, content_type=MARKDOWN, charset="utf-8")

    def parsed(work: Callable[[Any], T]) -> Callable[[bytes], T]:
        return lambda body: work(parse_json(body, limits.max_json_depth))

    def infer_body(header_length: str | None) -> Callable[[bytes], InferResponse]:
        if header_length is None:
            return parsed(service.infer)

        def work(body: bytes) -> InferResponse:
            header, section = binary.split_body(body, header_length)
            return service.infer(parse_json(header, limits.max_json_depth), section)

        return work

    async def infer(request: web.BaseRequest, name: str, version: str | None) -> web.Response:
        service.check_model(name, version)
        work = infer_body(request.headers.get(binary.HEADER))
        return _infer_response(await compute(request, work, binary_allowed=True))

    async def feedback(request: web.BaseRequest, name: str, version: str | None) -> web.Response:
        service.check_model(name, version)
        feedback_auth.check(request.headers.get(hdrs.AUTHORIZATION))
        return _json(await compute(request, parsed(service.feedback)))

    async def metrics_page(_: web.BaseRequest) -> web.Response:
        response = web.Response(body=metrics.exposition())
        response.headers["Content-Type"] = CONTENT_TYPE
        return response

    async def reference_page(request: web.BaseRequest) -> web.Response:
        if not metrics.has_reference:
            return _error("no reference distribution: the training snapshot could not be read (see the log)", 404)
        try:
            part = newest_part_of_query(request.query)
        except ValueError as error:
            return _error(f"the newest part asked for is invalid: {error}", 400)
        if part is None:
            body = metrics.reference_exposition()
        else:
            try:
                # counting a part reads the snapshot again: off the event loop that answers inferences
                body = await asyncio.get_running_loop().run_in_executor(None, metrics.newest.exposition, part)
            except ValueError as error:
                return _error(f"no reference for the newest part: {error}", 404)
        response = web.Response(body=body)
        response.headers["Content-Type"] = CONTENT_TYPE
        return response

    fixed: dict[str, Route] = {
        "/v2/health/live": ("GET", "health", live),
        "/v2/health/ready": ("GET", "health", ready),
        "/v2": ("GET", "metadata", server),
        "/metrics": ("GET", "metrics", metrics_page),
        REFERENCE_PATH: ("GET", "metrics", reference_page),
    }
    of_a_model: dict[str | None, Route] = {
        None: ("GET", "metadata", model),
        "ready": ("GET", "health", model_ready),
        "card": ("GET", "metadata", model_card),
        "infer": ("POST", "infer", infer),
        "feedback": ("POST", "feedback", feedback),
    }

    def resolve(method: str, path: str) -> tuple[str, Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]]:
        """The endpoint a request is counted under, and what answers it."""
        found = fixed.get(path)
        arguments: tuple[str, str | None] | tuple[()] = ()
        if found is None and (model_path := model_route(path)) is not None and model_path[0] in of_a_model:
            action, name, version = model_path
            found, arguments = of_a_model[action], (name, version)
        if found is None:
            return "other", lambda _: _answer(_error(f"Not Found: {method} {path}", 404))
        allowed, endpoint, handler = found
        if method != allowed:
            refusal = _error(f"Method Not Allowed: {method} {path}", 405)
            refusal.headers[hdrs.ALLOW] = allowed
            return "other", lambda _: _answer(refusal)
        return endpoint, lambda request: handler(request, *arguments)

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        started = time.perf_counter()
        endpoint, respond = resolve(request.method, request.path)
        state.in_flight += 1
        try:
            response = await respond(request)
        except InferenceError as error:
            response = _error(str(error), error.status)
            if isinstance(error, Unauthorized):
                response.headers[hdrs.WWW_AUTHENTICATE] = CHALLENGE
            if isinstance(error, (PayloadTooLarge, RequestTimeout, ClientClosedRequest)):
                response.force_close()  # the rest of the body is not worth waiting for
        except web.HTTPRequestEntityTooLarge:  # a chunked body past the limit
            response = _error(f"the request body is larger than {limits.max_request_bytes} bytes", 413)
            response.force_close()
        except Exception:  # noqa: BLE001 - a fault of ours must answer, not drop the connection
            log.exception("internal error answering %s %s", request.method, request.path)
            response = _error("internal server error (logged by the server)", 500)
        finally:
            state.in_flight -= 1
        metrics.observe(endpoint, response.status, time.perf_counter() - started)
        return response

    def make_request(
        message: Any, payload: Any, protocol: Any, writer: Any, task: asyncio.Task[None]
    ) -> web.BaseRequest:
        # aiohttp's own factory, with the body limit in place of its 1 MiB default.
        loop = asyncio.get_running_loop()
        return web.BaseRequest(message, payload, protocol, writer, task, loop, client_max_size=limits.max_request_bytes)

    return web.Server(handle, request_factory=make_request, **server_options)
