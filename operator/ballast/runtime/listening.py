"""The model server's listening socket: a cap on open connections, and quiet client errors.

aiohttp closes a connection that sends no request within its keep-alive timeout (from the
moment it opens, and after each answer), which bounds how long a stalled client is held; it has
no cap on how many are open at once. `CappedTCPSite` answers a connection beyond the cap, or
beyond one address's share of it, with a 503 and closes it before reading a byte, so a flood of
idle sockets costs a file descriptor each for a moment, never the server's memory, and one
client cannot take every connection the kubelet's probes need.
"""

from __future__ import annotations

import asyncio
import json
import logging

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

_BUSY_BODY = json.dumps({"error": "too many open connections; retry later"}).encode()
BUSY_RESPONSE = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Content-Length: " + str(len(_BUSY_BODY)).encode() + b"\r\nConnection: close\r\n\r\n" + _BUSY_BODY
)


REFUSED_LINGER_SECONDS = 1.0
"""A refused connection's request is read and dropped this long: closing a socket with unread
data resets it, and the client would lose the 503 before reading it."""


class _Refused(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(BUSY_RESPONSE)
        if transport.can_write_eof():
            transport.write_eof()
        asyncio.get_running_loop().call_later(REFUSED_LINGER_SECONDS, transport.close)

    def data_received(self, data: bytes) -> None:
        pass


class _OneClientsShare(asyncio.Protocol):
    """Stands in for the server's protocol until the peer is known (the protocol factory is not
    told it): a client already holding its share is refused as one over the cap is; any other
    connection is handed to the server's own protocol."""

    def __init__(self, server: web.Server, max_per_client: int) -> None:
        self.server = server
        self.max_per_client = max_per_client

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        client = _peer_host(transport)
        held = sum(
            1
            for handler in self.server.connections
            if handler.transport is not None and _peer_host(handler.transport) == client
        )
        protocol: asyncio.BaseProtocol = _Refused() if client and held >= self.max_per_client else self.server()
        transport.set_protocol(protocol)
        protocol.connection_made(transport)


def _peer_host(transport: asyncio.BaseTransport) -> str | None:
    peer = transport.get_extra_info("peername")
    return peer[0] if isinstance(peer, tuple) and peer else None


class CappedTCPSite(web.TCPSite):
    """web.TCPSite with at most `max_connections` connections open at once, and at most
    `max_connections_per_client` of them from one address."""

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        *,
        max_connections: int,
        max_connections_per_client: int | None = None,
    ) -> None:
        super().__init__(runner, host, port)
        self.max_connections = max_connections
        self.max_connections_per_client = max_connections_per_client or max_connections

    def _protocol(self) -> asyncio.BaseProtocol:
        server = self._runner.server
        assert server is not None
        if len(server.connections) >= self.max_connections:
            return _Refused()
        if self.max_connections_per_client >= self.max_connections:
            return server()
        return _OneClientsShare(server, self.max_connections_per_client)

    async def start(self) -> None:
        # TCPSite.start with our protocol factory in place of the runner's server.
        await web.BaseSite.start(self)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._protocol,
            self._host,
            self._port,
            backlog=self._backlog,
            reuse_address=self._reuse_address,
            reuse_port=self._reuse_port,
        )


class _ClientProtocolErrors(logging.Filter):
    """aiohttp logs a client's malformed HTTP (a bad request line, an oversized header) with a
    traceback at ERROR; it is the client's fault, answered 400, so one line at INFO says enough."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.INFO, "INFO"
            detail = f"{type(error).__name__} {error.code} {str(error.message)[:200]}".replace("%", "%%")
            record.msg = f"{record.msg}: {detail}"
        return True


def quiet_client_protocol_errors() -> None:
    logger = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, _ClientProtocolErrors) for f in logger.filters):
        logger.addFilter(_ClientProtocolErrors())
