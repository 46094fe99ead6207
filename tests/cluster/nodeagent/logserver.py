"""The one kubelet endpoint `kubectl logs` needs: the API server proxies pods/log to
https://<node InternalIP>:<kubeletEndpoint port>/containerLogs/<namespace>/<pod>/<container>.

It serves the agent's log files (plain text; `timestamps` and `sinceSeconds` are ignored), with
`previous`, `tailLines`, `limitBytes` and `follow`. There is no authentication: the API server
presents no client certificate in this cluster, and anyone on this machine can read the log
files anyway.
"""

from __future__ import annotations

import http.server
import logging
import ssl
import threading
import time
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlparse

log = logging.getLogger(__name__)

FOLLOW_POLL_SECONDS = 0.25


class LogSource(Protocol):
    def log_file(self, namespace: str, pod: str, container: str, previous: bool) -> Path | None: ...
    def is_running(self, namespace: str, pod: str, container: str) -> bool: ...


def tail(data: bytes, lines: int | None, limit: int | None) -> bytes:
    if lines is not None:
        data = b"".join(data.splitlines(keepends=True)[-lines:]) if lines > 0 else b""
    if limit is not None:
        data = data[:limit]
    return data


def _handler(source: LogSource) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):  # noqa: N802 (http.server's naming)
            url = urlparse(self.path)
            parts = [unquote(p) for p in url.path.strip("/").split("/")]
            if parts == ["healthz"]:
                return self._send(200, b"ok")
            if len(parts) != 4 or parts[0] != "containerLogs":
                return self._send(404, b"only /containerLogs/<namespace>/<pod>/<container> is served here")
            _, namespace, pod, container = parts
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            previous = query.get("previous") == "true"
            path = source.log_file(namespace, pod, container, previous)
            if path is None or not path.exists():
                which = "previous terminated" if previous else "a"
                return self._send(404, f"{which} container {container!r} in pod {pod!r} has no logs".encode())
            lines = int(query["tailLines"]) if "tailLines" in query else None
            limit = int(query["limitBytes"]) if "limitBytes" in query else None
            data = tail(path.read_bytes(), lines, limit)
            if query.get("follow") != "true" or previous:
                return self._send(200, data)
            self._follow(source, path, data, (namespace, pod, container), limit)

        def _follow(self, source, path, first, key, limit):
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            sent = len(first)
            self._chunk(first)
            position = path.stat().st_size
            try:
                while limit is None or sent < limit:
                    with open(path, "rb") as handle:
                        handle.seek(position)
                        more = handle.read()
                    if more:
                        position += len(more)
                        more = more if limit is None else more[:limit - sent]
                        sent += len(more)
                        self._chunk(more)
                    elif not source.is_running(*key):
                        break
                    else:
                        time.sleep(FOLLOW_POLL_SECONDS)
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass

        def _chunk(self, data: bytes) -> None:
            if data:
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

        def _send(self, code: int, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt, *args):
            log.debug("log server: " + fmt, *args)

    return Handler


class LogServer:
    def __init__(self, source: LogSource, address: str, port: int, cert_file: Path, key_file: Path):
        try:
            self._server = http.server.ThreadingHTTPServer((address, port), _handler(source))
        except OSError:
            log.warning("port %d on %s is taken; serving logs on a free port instead", port, address)
            self._server = http.server.ThreadingHTTPServer((address, 0), _handler(source))
        self._server.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]

    def start(self) -> None:
        threading.Thread(target=self._server.serve_forever, name="log-server", daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()

