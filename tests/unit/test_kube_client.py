"""The operator's API calls: plain JSON to the paths kubectl uses, through the official client's
ApiClient, never its typed API classes (ballast.kube_api)."""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from ballast import kube, kube_api
from ballast.controller import HANDLER_THREADS, RECONCILE_WORKERS
from ballast.handlers import source_objects


def test_every_thread_that_calls_the_api_server_at_once_keeps_its_connection():
    lease_thread = 1
    assert kube_api.API_CONNECTIONS >= RECONCILE_WORKERS + HANDLER_THREADS + lease_thread


class FakeApiServer(ThreadingHTTPServer):
    """Records each request; answers with the next of `answers` ((status, body) pairs), then 200 {}."""

    def __init__(self) -> None:
        self.seen: list[dict] = []
        self.answers: list[tuple[int, dict]] = []

        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                server.seen.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "content_type": self.headers.get("Content-Type"),
                        "accept": self.headers.get("Accept"),
                        "body": json.loads(body) if body else None,
                    }
                )
                status, document = server.answers.pop(0) if server.answers else (200, {})
                payload = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_DELETE = _answer

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)


@pytest.fixture
def api_server(monkeypatch):
    server = FakeApiServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    configuration = client.Configuration()
    configuration.host = f"http://127.0.0.1:{server.server_address[1]}"
    api = client.ApiClient(configuration)
    monkeypatch.setattr(kube_api, "api_client", lambda: api)
    yield server
    server.shutdown()


def _typed_api_modules() -> set[str]:
    return {name for name in sys.modules if name.startswith("kubernetes.client.api.")}


def test_each_write_goes_to_its_path_with_its_content_type(api_server):
    typed_before = _typed_api_modules()
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "train-a", "namespace": "team"}}
    kube.create_job(job)
    kube.delete_job("team", "train-a")
    api_server.answers = [(200, {"metadata": {"resourceVersion": "8"}})]
    assert kube.patch_status("datasets", "team", "d", {"phase": "Ready"}) == "8"
    kube.patch_custom_object_status("datasets", "team", "d", [{"op": "test", "path": "/status/x", "value": 1}])
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "m", "namespace": "team"}}
    kube.server_side_apply(deployment, field_manager="ballast", resource_version="5")
    kube.post_event(
        {"apiVersion": "ballast.dev/v1alpha1", "kind": "Dataset", "metadata": {"name": "d", "namespace": "team"}},
        type="Normal",
        reason="Ready",
        message="ok",
        reporter="test",
    )
    seen = [(r["method"], r["path"], r["content_type"]) for r in api_server.seen]
    assert seen == [
        ("POST", "/apis/batch/v1/namespaces/team/jobs", "application/json"),
        ("DELETE", "/apis/batch/v1/namespaces/team/jobs/train-a?propagationPolicy=Background", None),
        ("PATCH", "/apis/ballast.dev/v1alpha1/namespaces/team/datasets/d/status", "application/merge-patch+json"),
        ("PATCH", "/apis/ballast.dev/v1alpha1/namespaces/team/datasets/d/status", "application/json-patch+json"),
        (
            "PATCH",
            "/apis/apps/v1/namespaces/team/deployments/m?fieldManager=ballast&force=true",
            "application/apply-patch+yaml",
        ),
        ("POST", "/api/v1/namespaces/team/events", "application/json"),
    ]
    assert api_server.seen[0]["body"] == job
    assert api_server.seen[2]["body"] == {"status": {"phase": "Ready"}}
    assert api_server.seen[4]["body"]["metadata"]["resourceVersion"] == "5"
    assert _typed_api_modules() == typed_before, "a typed API class was imported"


def test_answers_outside_2xx_raise_the_clients_api_exception(api_server):
    api_server.answers = [(404, {"kind": "Status", "code": 404}), (409, {"kind": "Status", "reason": "AlreadyExists"})]
    assert kube.read_custom_object("datasets", "team", "gone") is None
    assert kube.create_custom_object("datasets", {"metadata": {"name": "d", "namespace": "team"}}) is False
    api_server.answers = [(500, {"kind": "Status", "message": "etcd is down"})]
    with pytest.raises(ApiException) as raised:
        kube.read_service("team", "s")
    assert raised.value.status == 500 and "etcd is down" in raised.value.body


def test_a_source_secret_is_read_as_metadata_only(api_server):
    api_server.answers = [(200, {"metadata": {"labels": {"ballast.dev/dataset-source": "true"}}}), (404, {})]
    assert source_objects.object_labels("team", "secrets", "creds") == {"ballast.dev/dataset-source": "true"}
    assert source_objects.object_labels("team", "persistentvolumeclaims", "gone") is None
    assert [(r["path"], r["accept"]) for r in api_server.seen] == [
        ("/api/v1/namespaces/team/secrets/creds", source_objects.METADATA_ONLY),
        ("/api/v1/namespaces/team/persistentvolumeclaims/gone", source_objects.METADATA_ONLY),
    ]


def test_a_non_object_answer_reads_as_empty(api_server):
    api_server.answers = [(200, [])]
    assert kube_api.request("GET", "/api/v1/namespaces/team/services/s") == {}
