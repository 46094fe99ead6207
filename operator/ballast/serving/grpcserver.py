"""The gRPC face of a ModelService: the Open Inference Protocol's `inference.GRPCInferenceService`
(ServerLive, ServerReady, ModelReady, ServerMetadata, ModelMetadata, ModelInfer).

It runs on the same event loop as the REST app and shares its service, metrics, readiness and
large-request threads, so a prediction is parsed, bounded, predicted and counted once, the same
way, whichever API asked (ballast.serving.grpcwire turns messages into the service's documents).
Each call is counted in the REST series under the endpoint and status code the REST route would
have answered, so a canary's error rate and the request metrics see both APIs.

A refusal is the call's status, mapped from the REST status in STATUS_CODES: a bad request
INVALID_ARGUMENT, an unknown model or version NOT_FOUND, a message over --max-request-bytes
RESOURCE_EXHAUSTED (gRPC refuses it before it is read), too many large requests at once
UNAVAILABLE (retry later, as gRPC's retry policies do for that code).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
from grpc import aio

from ballast.serving import grpcwire
from ballast.serving.app import ServerState
from ballast.serving.errors import ClientClosedRequest, InferenceError
from ballast.serving.metrics import ServingMetrics
from ballast.serving.offload import Offload
from ballast.serving.proto import grpc_predict_v2_pb2 as pb
from ballast.serving.proto import grpc_predict_v2_pb2_grpc as pb_grpc
from ballast.serving.protocol import InferResponse, server_metadata
from ballast.serving.service import ModelService

log = logging.getLogger(__name__)
T = TypeVar("T")

INTERNAL_ERROR = 500
STATUS_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    408: grpc.StatusCode.DEADLINE_EXCEEDED,
    409: grpc.StatusCode.ALREADY_EXISTS,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    415: grpc.StatusCode.INVALID_ARGUMENT,
    429: grpc.StatusCode.UNAVAILABLE,
    499: grpc.StatusCode.CANCELLED,
    503: grpc.StatusCode.UNAVAILABLE,
}
"""The gRPC status of each REST status an InferenceError carries; anything else is INTERNAL."""


def status_code(http_status: int) -> grpc.StatusCode:
    return STATUS_CODES.get(http_status, grpc.StatusCode.INTERNAL)


class InferenceServicer(pb_grpc.GRPCInferenceServiceServicer):
    def __init__(self, service: ModelService, metrics: ServingMetrics, state: ServerState, offload: Offload) -> None:
        self.service = service
        self.metrics = metrics
        self.state = state
        self.offload = offload
        self.server_metadata = grpcwire.server_metadata_response(server_metadata())
        self.model_metadata = grpcwire.model_metadata_response(service.metadata)

    async def _answer(
        self, endpoint: str, context: aio.ServicerContext, work: Callable[[], Awaitable[tuple[T, int]]]
    ) -> T:
        """`work`'s message, counted as REST counts `endpoint` with the status `work` gives; an
        InferenceError (or a fault of ours) ends the call with its gRPC status instead."""
        started = time.perf_counter()
        # What a call the client cancels mid-way counts as (asyncio cancels `work`), as REST counts
        # a client that hangs up: not a fault of the server's.
        status = ClientClosedRequest.status
        self.state.in_flight += 1
        try:
            message, status = await work()
        except InferenceError as error:
            status, code, text = error.status, status_code(error.status), str(error)
        except Exception:  # noqa: BLE001 - a fault of ours must answer, not drop the call
            log.exception("internal error answering gRPC %s", endpoint)
            status, code, text = (
                INTERNAL_ERROR,
                grpc.StatusCode.INTERNAL,
                "internal server error (logged by the server)",
            )
        else:
            return message
        finally:
            self.state.in_flight -= 1
            self.metrics.observe(endpoint, status, time.perf_counter() - started)
        await context.abort(code, text)
        raise AssertionError("context.abort raises")  # for the type checker: abort never returns

    def _model(self, name: str, version: str) -> None:
        # The protocol's empty version: whichever the server serves.
        self.service.check_model(name, version or None)

    def _readiness(self) -> int:
        return 200 if self.state.is_ready else 503

    async def ServerLive(self, request: pb.ServerLiveRequest, context: aio.ServicerContext) -> pb.ServerLiveResponse:
        async def work() -> tuple[pb.ServerLiveResponse, int]:
            return pb.ServerLiveResponse(live=True), 200

        return await self._answer("health", context, work)

    async def ServerReady(self, request: pb.ServerReadyRequest, context: aio.ServicerContext) -> pb.ServerReadyResponse:
        async def work() -> tuple[pb.ServerReadyResponse, int]:
            return pb.ServerReadyResponse(ready=self.state.is_ready), self._readiness()

        return await self._answer("health", context, work)

    async def ModelReady(self, request: pb.ModelReadyRequest, context: aio.ServicerContext) -> pb.ModelReadyResponse:
        async def work() -> tuple[pb.ModelReadyResponse, int]:
            self._model(request.name, request.version)
            return pb.ModelReadyResponse(ready=self.state.is_ready), self._readiness()

        return await self._answer("health", context, work)

    async def ServerMetadata(
        self, request: pb.ServerMetadataRequest, context: aio.ServicerContext
    ) -> pb.ServerMetadataResponse:
        async def work() -> tuple[pb.ServerMetadataResponse, int]:
            return self.server_metadata, 200

        return await self._answer("metadata", context, work)

    async def ModelMetadata(
        self, request: pb.ModelMetadataRequest, context: aio.ServicerContext
    ) -> pb.ModelMetadataResponse:
        async def work() -> tuple[pb.ModelMetadataResponse, int]:
            self._model(request.name, request.version)
            return self.model_metadata, 200

        return await self._answer("metadata", context, work)

    def _infer(self, request: pb.ModelInferRequest) -> pb.ModelInferResponse:
        document, section = grpcwire.infer_document(request)
        answer: InferResponse = self.service.infer(document, section)
        return grpcwire.infer_response(answer)

    async def ModelInfer(self, request: pb.ModelInferRequest, context: aio.ServicerContext) -> pb.ModelInferResponse:
        async def work() -> tuple[pb.ModelInferResponse, int]:
            self._model(request.model_name, request.model_version)
            # The message has arrived whole (gRPC capped its size); only its computing may move.
            if self.offload.is_small(request.ByteSize()):
                return self._infer(request), 200
            async with self.offload.turn():
                return await self.offload.run(lambda: self._infer(request)), 200

        return await self._answer("infer", context, work)


def server_options(service: ModelService) -> list[tuple[str, Any]]:
    limits = service.limits
    return [
        # A message over the body limit is refused (RESOURCE_EXHAUSTED) before it is held whole.
        ("grpc.max_receive_message_length", limits.max_request_bytes),
        # An answer may be larger than its request (predict_proba of many rows): not capped.
        ("grpc.max_send_message_length", -1),
        # An idle connection is closed as REST closes one after its keep-alive timeout.
        ("grpc.max_connection_idle_ms", int(limits.keepalive_timeout_seconds * 1000)),
        # Without this, a second server on the same port would bind too, and share its traffic.
        ("grpc.so_reuseport", 0),
    ]


def build_grpc_server(
    service: ModelService, metrics: ServingMetrics, state: ServerState, offload: Offload
) -> aio.Server:
    """The gRPC server for `service`, not yet bound or started; calls beyond the connection limit
    at once are refused with RESOURCE_EXHAUSTED by gRPC itself."""
    server = aio.server(options=server_options(service), maximum_concurrent_rpcs=service.limits.max_connections)
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(InferenceServicer(service, metrics, state, offload), server)
    return server
