"""The HTTP face of a ModelService: Open Inference Protocol REST routes, feedback and /metrics.

    GET  /v2/health/live | /v2/health/ready | /v2
    GET  /v2/models/{name}[/versions/{version}]            model metadata
    GET  /v2/models/{name}[/versions/{version}]/ready
    POST /v2/models/{name}[/versions/{version}]/infer
    POST /v2/models/{name}[/versions/{version}]/feedback
    GET  /metrics

Every refusal is `{"error": "<message>"}` with a 4xx status (500 only for a fault of the
server itself, which is logged with its traceback). Handlers are synchronous between reading
the body and writing the answer: a bad request raises before it touches shared state, so it
cannot disturb the requests around it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ballast.serving.errors import BadRequest, InferenceError
from ballast.serving.metrics import CONTENT_TYPE, ServingMetrics
from ballast.serving.protocol import server_metadata
from ballast.serving.service import ModelService

log = logging.getLogger(__name__)

JSON = "application/json"
DEFAULT_MAX_REQUEST_BYTES = 16 * 1024 * 1024
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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


def _json(document: Any, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(document, separators=(",", ":"), allow_nan=False).encode(),
                        status=status, content_type=JSON)


def _error(message: str, status: int) -> web.Response:
    return _json({"error": message}, status)


def parse_json(body: bytes) -> Any:
    if not body:
        raise BadRequest("the request has no body; send a JSON object")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise BadRequest(f"malformed JSON: {error}") from None
    except RecursionError:
        raise BadRequest("the JSON is nested too deeply") from None


def build_app(service: ModelService, metrics: ServingMetrics, state: ServerState,
              max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES) -> web.Application:

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
        except web.HTTPRequestEntityTooLarge:
            response = _error(f"the request body is larger than {max_request_bytes} bytes", 413)
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

    async def infer(request: web.Request) -> web.Response:
        service.check_model(*model_args(request))
        return _json(service.infer(parse_json(await request.read())))

    async def feedback(request: web.Request) -> web.Response:
        service.check_model(*model_args(request))
        return _json(service.feedback(parse_json(await request.read())))

    async def metrics_page(_: web.Request) -> web.Response:
        response = web.Response(body=metrics.exposition())
        response.headers["Content-Type"] = CONTENT_TYPE
        return response

    app = web.Application(middlewares=[protocol_errors], client_max_size=max_request_bytes)
    add = app.router.add_route
    add("GET", "/v2/health/live", live, name="health.live")
    add("GET", "/v2/health/ready", ready, name="health.ready")
    add("GET", "/v2", server, name="metadata.server")
    add("GET", "/metrics", metrics_page, name="metrics")
    for prefix, suffix in (("/v2/models/{name}", ""), ("/v2/models/{name}/versions/{version}", ".version")):
        add("GET", prefix, model, name=f"metadata.model{suffix}")
        add("GET", f"{prefix}/ready", model_ready, name=f"health.model{suffix}")
        add("POST", f"{prefix}/infer", infer, name=f"infer{suffix}")
        add("POST", f"{prefix}/feedback", feedback, name=f"feedback{suffix}")
    return app

