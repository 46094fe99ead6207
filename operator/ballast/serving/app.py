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
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
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


def _json_bytes(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":"), allow_nan=False).encode()


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


def build_app(
    service: ModelService,
    metrics: ServingMetrics,
    state: ServerState,
    feedback_auth: FeedbackAuth | None = None,
    card: bytes | None = None,
    offload: Offload | None = None,
) -> web.Application:
    """The routes for `service`, bounded by the service's own limits (one set for the whole
    server). Without `feedback_auth`, feedback is refused; without `card`, the card route is 404.
    Large requests go to `offload`, shared with the gRPC API when given (its owner closes it);
    without it, the app makes and closes its own."""
    limits = service.limits
    feedback_auth = feedback_auth or FeedbackAuth()
    owns_offload = offload is None
    offload = offload or Offload(limits)

    @web.middleware
    async def protocol_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        route = request.match_info.route.name
        endpoint = route.split(".", 1)[0] if route else "other"
        state.in_flight += 1
        try:
            response = await handler(request)
        except InferenceError as error:
            response = _error(str(error), error.status)
            if isinstance(error, Unauthorized):
                response.headers[hdrs.WWW_AUTHENTICATE] = CHALLENGE
            if isinstance(error, (PayloadTooLarge, RequestTimeout, ClientClosedRequest)):
                response.force_close()  # the rest of the body is not worth waiting for
        except web.HTTPRequestEntityTooLarge:  # a chunked body past the limit
            response = _error(f"the request body is larger than {limits.max_request_bytes} bytes", 413)
            response.force_close()
        except web.HTTPException as error:
            # The router's 404 and 405, in the protocol's shape.
            response = _error(f"{error.reason}: {request.method} {request.path}", error.status)
        except Exception:  # noqa: BLE001 - a fault of ours must answer, not drop the connection
            log.exception("internal error answering %s %s", request.method, request.path)
            response = _error("internal server error (logged by the server)", 500)
        finally:
            state.in_flight -= 1
        metrics.observe(endpoint, response.status, time.perf_counter() - started)
        return response

    async def read_body(request: web.Request) -> bytes:
        if request.content.is_eof():  # it all came with the headers: nothing to wait for
            return await request.read()
        try:
            async with asyncio.timeout(limits.read_timeout_seconds):
                return await request.read()
        except TimeoutError:
            raise RequestTimeout(f"the request body did not arrive within {limits.read_timeout_seconds:g}s") from None
        except ConnectionResetError:  # aiohttp's "Connection lost": the client hung up mid-body
            raise ClientClosedRequest("the client closed the connection before its body arrived") from None

    async def compute(request: web.Request, work: Callable[[bytes], T], binary_allowed: bool = False) -> T:
        """`work` on the body: on the loop for a small body, in a worker thread otherwise."""
        check_body_headers(request, limits.max_request_bytes, binary_allowed)
        if offload.is_small(request.content_length):
            return work(await read_body(request))
        async with offload.turn():
            body = await read_body(request)
            return await offload.run(lambda: work(body))

    def model_args(request: web.Request) -> tuple[str, str | None]:
        return request.match_info["name"], request.match_info.get("version")

    async def live(_: web.Request) -> web.Response:
        return _json({"live": True})

    async def ready(_: web.Request) -> web.Response:
        return _json({"ready": state.is_ready}, 200 if state.is_ready else 503)

    async def server(_: web.Request) -> web.Response:
        return _json(server_metadata())

    async def model(request: web.Request) -> web.Response:
        service.check_model(*model_args(request))
        return _json(service.metadata)

    async def model_ready(request: web.Request) -> web.Response:
        service.check_model(*model_args(request))
        return _json({"name": service.signature.name, "ready": state.is_ready}, 200 if state.is_ready else 503)

    async def model_card(request: web.Request) -> web.Response:
        service.check_model(*model_args(request))
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

    async def infer(request: web.Request) -> web.Response:
        service.check_model(*model_args(request))
        work = infer_body(request.headers.get(binary.HEADER))
        return _infer_response(await compute(request, work, binary_allowed=True))

    async def feedback(request: web.Request) -> web.Response:
        service.check_model(*model_args(request))
        feedback_auth.check(request.headers.get(hdrs.AUTHORIZATION))
        return _json(await compute(request, parsed(service.feedback)))

    async def metrics_page(_: web.Request) -> web.Response:
        response = web.Response(body=metrics.exposition())
        response.headers["Content-Type"] = CONTENT_TYPE
        return response

    async def reference_page(request: web.Request) -> web.Response:
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

    async def stop_threads(_: web.Application) -> None:
        offload.close()

    app = web.Application(middlewares=[protocol_errors], client_max_size=limits.max_request_bytes)
    if owns_offload:
        app.on_cleanup.append(stop_threads)
    add = app.router.add_route
    add("GET", "/v2/health/live", live, name="health.live")
    add("GET", "/v2/health/ready", ready, name="health.ready")
    add("GET", "/v2", server, name="metadata.server")
    add("GET", "/metrics", metrics_page, name="metrics")
    add("GET", REFERENCE_PATH, reference_page, name="metrics.reference")
    for prefix, suffix in (("/v2/models/{name}", ""), ("/v2/models/{name}/versions/{version}", ".version")):
        add("GET", prefix, model, name=f"metadata.model{suffix}")
        add("GET", f"{prefix}/ready", model_ready, name=f"health.model{suffix}")
        add("GET", f"{prefix}/card", model_card, name=f"metadata.card{suffix}")
        add("POST", f"{prefix}/infer", infer, name=f"infer{suffix}")
        add("POST", f"{prefix}/feedback", feedback, name=f"feedback{suffix}")
    return app
