"""The pod network, as a hostile tenant or an unauthenticated client sees it.

- `PodNetworkClient`: a pod of the toolbox image (busybox wget and nc) with no ServiceAccount
  token: whatever it can reach, anyone with a pod on the network can.
- `FakeMetadataServer`: a cloud metadata endpoint the test runs on the host, bound to the pod
  bridge's gateway (10.244.0.1 on the local cluster), which pods reach. It answers every path
  with canary credentials, so a test can check that no canary ever lands in a status, an Event
  or a log, and it records each request, so a test can check that none was made.
- `SlowServer`: answers 200 and then drips its body one byte at a time, to hold whoever reads
  it for as long as they let it.

Both servers run threads of this process and stop when their `with` block ends.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.support.kube import REPO, Kubectl, wait_for

POD_TIMEOUT = 120
NONROOT = 65532
IDLE = ["sh", "-c", "exec sleep 3600"]


def pod_gateway() -> str:
    """The host's address on the pod bridge: where pods reach servers the test runs."""
    sys.path.insert(0, str(REPO / "tests" / "cluster"))
    import localcluster

    return localcluster.pod_gateway()


def toolbox_image() -> str:
    sys.path.insert(0, str(REPO / "tests" / "cluster"))
    import localcluster

    return localcluster.toolbox_image()


# --- servers on the pod network -----------------------------------------------------------------


@dataclass
class _Server:
    """A threaded HTTP server on the pod gateway, on a free port; `requests` are the paths asked for."""

    handler: type[BaseHTTPRequestHandler]
    host: str = field(default_factory=pod_gateway)
    requests: list[str] = field(default_factory=list)

    def __enter__(self):
        owner = self

        class Recording(self.handler):
            def log_message(self, *_args) -> None:  # the test's output is not the place
                pass

            def parse_request(self) -> bool:
                parsed = super().parse_request()
                if parsed:
                    owner.requests.append(self.path)
                return parsed

        self._server = ThreadingHTTPServer((self.host, 0), Recording)
        self._server.daemon_threads = True
        self._server.owner = self  # type: ignore[attr-defined]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self._server.server_address[1]}"


class _MetadataHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps(self.server.owner.credentials).encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@dataclass
class FakeMetadataServer(_Server):
    """AWS's instance-metadata answer (any path), with credentials unique to the test run."""

    handler: type[BaseHTTPRequestHandler] = _MetadataHandler
    credentials: dict = field(
        default_factory=lambda: {
            "Code": "Success",
            "Type": "AWS-HMAC",
            "AccessKeyId": f"ASIA{uuid.uuid4().hex[:16].upper()}",
            "SecretAccessKey": f"canary-{uuid.uuid4().hex}",
            "Token": f"canary-token-{uuid.uuid4().hex}",
        }
    )

    @property
    def secrets(self) -> tuple[str, ...]:
        """What must never show up anywhere a tenant can read."""
        return self.credentials["AccessKeyId"], self.credentials["SecretAccessKey"], self.credentials["Token"]

    @property
    def credentials_url(self) -> str:
        return f"{self.url}/latest/meta-data/iam/security-credentials/ballast-node"


class _SlowHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        owner = self.server.owner  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        deadline = time.monotonic() + owner.drip_seconds
        try:
            while time.monotonic() < deadline:
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(owner.interval_seconds)
        except OSError:  # the reader gave up: what a deadline is for
            pass


@dataclass
class SlowServer(_Server):
    """200, then one byte every interval_seconds for drip_seconds: no read ever times out."""

    handler: type[BaseHTTPRequestHandler] = _SlowHandler
    interval_seconds: float = 0.5
    drip_seconds: float = 60


# --- a client on the pod network ----------------------------------------------------------------


class PodNetworkClient:
    """A long-running toolbox pod in `namespace`, without a ServiceAccount token, that the test
    drives with `kubectl exec` (the admin's, not the pod's: the pod itself has no credentials).
    With `image` another image: Ballast's, for a client that needs python (`python`)."""

    def __init__(self, kubectl: Kubectl, namespace: str, name: str = "pod-network-client", image: str | None = None):
        self.kubectl = kubectl.in_namespace(namespace)
        self.name = name
        self.image = image

    def manifest(self) -> dict:
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": self.name, "labels": {"app.kubernetes.io/name": "pod-network-client"}},
            "spec": {
                "automountServiceAccountToken": False,
                "terminationGracePeriodSeconds": 0,
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": NONROOT,
                    "runAsGroup": NONROOT,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "containers": [
                    {
                        "name": "client",
                        "image": self.image or toolbox_image(),
                        "command": IDLE,
                        "securityContext": {
                            "allowPrivilegeEscalation": False,
                            "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]},
                        },
                    }
                ],
            },
        }

    def start(self) -> PodNetworkClient:
        self.kubectl.apply(self.manifest())
        self.kubectl.run(
            "wait", "--for=condition=Ready", f"pod/{self.name}", f"--timeout={POD_TIMEOUT}s", timeout=POD_TIMEOUT + 10
        )
        return self

    def stop(self) -> None:
        self.kubectl.run("delete", "pod", self.name, "--wait=false", "--ignore-not-found", check=False)

    def sh(self, script: str, timeout: float = 60):
        """`sh -c script` in the pod; the CompletedProcess of kubectl exec."""
        return self.kubectl.run("exec", self.name, "--", "sh", "-c", script, check=False, timeout=timeout)

    def python(self, script: str, *args: str, timeout: float = 120):
        """`python3 - args` in the pod, the script on its stdin; the CompletedProcess of kubectl exec."""
        return self.kubectl.run(
            "exec", "-i", self.name, "--", "python3", "-", *args, input=script, check=False, timeout=timeout
        )

    def get(self, url: str, timeout_seconds: int = 5):
        """wget's answer to a GET of url (stdout), within an overall deadline. (The toolbox's
        busybox wget crashes with its own -T read timeout: `timeout` instead.)"""
        return self.sh(f"timeout {timeout_seconds} wget -q -O - '{url}'", timeout=timeout_seconds + 30)


def wait_for_requests(server: _Server, count: int = 1, timeout: float = 10) -> list[str]:
    return wait_for(
        lambda: server.requests if len(server.requests) >= count else None,
        timeout=timeout,
        message=f"{count} request(s) to {server.url}",
    )
