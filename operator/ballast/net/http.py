"""A bounded HTTP GET for the URLs Ballast reads on a user's behalf (Prometheus, Dataset URLs).

Bounds, each of which a hostile server would otherwise own:
- an overall deadline (`Deadline`): every socket operation waits at most what is left of it,
  so a server dripping one byte a second is cut at the deadline, not after its whole drip (a
  per-read timeout alone never fires on a drip);
- a size cap on the body (Content-Length first, the byte count always);
- redirects followed only to the same scheme, host and port, at most MAX_REDIRECTS, each hop
  checked by the egress policy again;
- the connection goes to an address the egress policy checked (ballast.net.egress), with the
  host name kept for the Host header, TLS server name and certificate check: no second DNS
  lookup, so no rebinding between check and connect;
- the name's resolution is under the deadline too: getaddrinfo cannot be interrupted and a
  tenant's own DNS server may never answer (with the cluster's search domains the resolver
  retries for tens of seconds), so it runs on a small pool of its own and the caller stops
  waiting at the deadline.

Built on the standard library's http.client rather than urllib3 because the socket must be
ours: the checked address to connect to, and a deadline on every read of the response.
Nothing here puts a response body into an exception message: the errors say what happened
(a status, a length, a limit) in words the caller may copy into status.
"""

from __future__ import annotations

import http.client
import io
import socket
import ssl
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO
from urllib.parse import urljoin, urlsplit, urlunsplit

from ballast.net.egress import EgressPolicy, Resolver, Target, checked_addresses, resolve

MAX_REDIRECTS = 5
REDIRECTS = frozenset({301, 302, 303, 307, 308})
CHUNK = 1 << 16
# Lookups that outlive their caller's deadline keep a worker until the resolver gives up: a few
# workers bound that, and a full pool makes the next callers wait (within their deadlines).
_RESOLVERS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="ballast-resolve")


class FetchError(Exception):
    """Base of every failure of a bounded fetch."""


class Unreachable(FetchError):
    """No answer: the name does not resolve, the connection or TLS failed."""


class DeadlineExceeded(FetchError):
    """The whole exchange took longer than its deadline."""


class TooLarge(FetchError):
    """The body is larger than the cap."""


class RedirectRefused(FetchError):
    """A redirect to another scheme, host or port, or too many redirects."""


class Deadline:
    """An instant on the monotonic clock by which an exchange (or several) must be over;
    `idle_seconds` additionally bounds each wait for the peer (a stall well before the end)."""

    def __init__(self, seconds: float, *, idle_seconds: float | None = None, clock=time.monotonic):
        self.seconds, self.idle_seconds, self._clock = seconds, idle_seconds, clock
        self.at = clock() + seconds

    def remaining(self) -> float:
        return self.at - self._clock()

    def wait_limit(self) -> float:
        """How long the next socket operation may block; DeadlineExceeded when nothing is left."""
        left = self.remaining()
        if left <= 0:
            raise DeadlineExceeded(f"timed out: no complete answer within {self.seconds:g}s")
        return left if self.idle_seconds is None else min(left, self.idle_seconds)


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    url: str
    """The URL that answered (after same-origin redirects)."""
    _raw: http.client.HTTPResponse
    _deadline: Deadline

    @property
    def declared_length(self) -> int | None:
        declared = self.headers.get("Content-Length", "")
        return int(declared) if declared.isdigit() else None

    def chunks(self, max_bytes: int) -> Iterator[bytes]:
        """The body, in pieces; TooLarge as soon as it would pass max_bytes."""
        declared = self.declared_length
        if declared is not None and declared > max_bytes:
            raise TooLarge(f"the answer declares {declared} bytes, more than the limit of {max_bytes}")
        received = 0
        while True:
            piece = _guarded(lambda: self._raw.read(CHUNK), self._deadline)
            if not piece:
                return
            received += len(piece)
            if received > max_bytes:
                raise TooLarge(f"the answer is larger than the limit of {max_bytes} bytes")
            yield piece

    def read(self, max_bytes: int) -> bytes:
        return b"".join(self.chunks(max_bytes))

    def copy_to(self, out: BinaryIO, max_bytes: int) -> int:
        copied = 0
        for piece in self.chunks(max_bytes):
            out.write(piece)
            copied += len(piece)
        return copied


@contextmanager
def open_url(
    url: str,
    policy: EgressPolicy,
    deadline: Deadline,
    *,
    headers: Mapping[str, str] | None = None,
    max_redirects: int = MAX_REDIRECTS,
    resolver: Resolver = resolve,
    tls: ssl.SSLContext | None = None,
) -> Iterator[Response]:
    """GET the URL within the policy and the deadline; the final answer, whatever its status
    (a redirect is followed only within the same origin). Raises EgressDenied (a refused URL
    or redirect target), Unreachable, DeadlineExceeded, RedirectRefused; bodies are read
    through the Response, under the same deadline."""
    origin = _origin(url)
    for _ in range(max_redirects + 1):
        connection, raw = _get(url, policy, deadline, headers or {}, resolver, tls)
        try:
            location = raw.getheader("Location") if raw.status in REDIRECTS else None
            if location is None:
                yield Response(raw.status, raw.headers, url, raw, deadline)
                return
            following = urljoin(url, location)
            if _origin(following) != origin:
                raise RedirectRefused(f"HTTP {raw.status}: a redirect to another scheme, host or port was refused")
        finally:
            raw.close()
            connection.close()
        url = following
    raise RedirectRefused(f"more than {max_redirects} redirects")


def _get(
    url: str,
    policy: EgressPolicy,
    deadline: Deadline,
    headers: Mapping[str, str],
    resolver: Resolver,
    tls: ssl.SSLContext | None,
) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    try:
        target, addresses = checked_addresses(url, policy, _within(resolver, deadline))
    except OSError as error:
        raise Unreachable(f"cannot resolve the host ({_cause(error)})") from None
    context = (tls or ssl.create_default_context()) if target.scheme == "https" else None
    connection = _CheckedConnection(target, addresses, deadline, context)
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        _guarded(
            lambda: connection.request(
                "GET", path, headers={"Accept-Encoding": "identity", "Connection": "close", **headers}
            ),
            deadline,
        )
        return connection, _guarded(connection.getresponse, deadline)
    except BaseException:
        connection.close()
        raise


def _within(resolver: Resolver, deadline: Deadline) -> Resolver:
    def resolve_in_time(host: str, port: int) -> list[str]:
        future = _RESOLVERS.submit(resolver, host, port)
        try:
            return future.result(timeout=deadline.wait_limit())
        except FutureTimeout:
            future.cancel()
            raise DeadlineExceeded(f"timed out: the host name did not resolve within {deadline.seconds:g}s") from None

    return resolve_in_time


class _CheckedConnection(http.client.HTTPConnection):
    """An HTTP(S) connection to one of the checked addresses, its socket under the deadline."""

    def __init__(self, target: Target, addresses: list[str], deadline: Deadline, tls: ssl.SSLContext | None):
        super().__init__(target.host, target.port)
        self.default_port = 443 if tls else 80  # the Host header leaves the scheme's own port out
        self._target, self._addresses, self._deadline, self._tls = target, addresses, deadline, tls

    def connect(self) -> None:
        errors = []
        for address in self._addresses:
            try:
                raw = socket.create_connection((address, self._target.port), timeout=self._deadline.wait_limit())
            except TimeoutError:
                raise DeadlineExceeded(f"timed out: no connection within {self._deadline.seconds:g}s") from None
            except OSError as error:
                errors.append(error)
                continue
            try:
                sock = self._tls.wrap_socket(raw, server_hostname=self._target.host) if self._tls else raw
            except TimeoutError:
                raw.close()
                raise DeadlineExceeded(f"timed out: no TLS handshake within {self._deadline.seconds:g}s") from None
            except (OSError, ssl.SSLError) as error:
                raw.close()
                raise Unreachable(f"TLS failed ({_cause(error)})") from None
            self.sock = _DeadlineSocket(sock, self._deadline)
            return
        raise Unreachable(f"cannot connect ({_cause(errors[-1]) if errors else 'no address'})")


class _DeadlineSocket:
    """What http.client uses of a socket, each blocking operation bounded by the deadline. Like
    a socket's own makefile, a reader keeps the socket open until it is closed too (http.client
    closes the connection of a `Connection: close` answer before its body is read)."""

    def __init__(self, sock: socket.socket, deadline: Deadline):
        self._sock, self._deadline = sock, deadline
        self._readers, self._closed = 0, False

    def sendall(self, data: bytes) -> None:
        self._sock.settimeout(self._deadline.wait_limit())
        _guarded(lambda: self._sock.sendall(data), self._deadline)

    def makefile(self, mode: str = "rb", *args, **kwargs) -> io.BufferedReader:
        self._readers += 1
        return io.BufferedReader(_DeadlineReader(self._sock, self._deadline, self._reader_closed))

    def close(self) -> None:
        self._closed = True
        if not self._readers:
            self._sock.close()

    def _reader_closed(self) -> None:
        self._readers -= 1
        if self._closed and not self._readers:
            self._sock.close()

    def setsockopt(self, *args) -> None:
        self._sock.setsockopt(*args)


class _DeadlineReader(io.RawIOBase):
    def __init__(self, sock: socket.socket, deadline: Deadline, on_close):
        self._sock, self._deadline, self._on_close = sock, deadline, on_close

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        if not self.closed:
            self._on_close()
        super().close()

    def readinto(self, buffer) -> int:
        self._sock.settimeout(self._deadline.wait_limit())
        try:
            return self._sock.recv_into(buffer)
        except TimeoutError:
            raise DeadlineExceeded(f"timed out: no complete answer within {self._deadline.seconds:g}s") from None


def _guarded(call, deadline: Deadline):
    """A call on the connection, its failures as FetchErrors (no answer text in them)."""
    try:
        return call()
    except FetchError:
        raise
    except TimeoutError:
        raise DeadlineExceeded(f"timed out: no complete answer within {deadline.seconds:g}s") from None
    except http.client.HTTPException as error:  # not HTTP, or cut short
        raise Unreachable(f"the answer is not valid HTTP ({type(error).__name__})") from None
    except OSError as error:
        raise Unreachable(f"the connection failed ({_cause(error)})") from None


def redact_url(url: str) -> str:
    """The URL as Ballast shows it: without user:password@ and without a query (presigned URLs
    carry secrets there)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    try:
        port = parts.port
    except ValueError:
        port = None
    return urlunsplit((parts.scheme, host + (f":{port}" if port else ""), parts.path, "", ""))


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port


def _cause(error: BaseException) -> str:
    """A short, fixed description of a local failure: the errno's name or the exception type
    (strerror comes from the local system, never from the remote server)."""
    if isinstance(error, ssl.SSLCertVerificationError):
        return "certificate verification failed"
    if isinstance(error, socket.gaierror):
        return "name not known"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    return type(error).__name__
