"""Thin helpers over the kubernetes client: plain dicts in and out, merge patches, events.

The agent works on the API's own JSON shape (camelCase dicts, as in YAML manifests) rather
than the client's model classes, so the code reads like the Kubernetes documentation.
"""

from __future__ import annotations

import datetime
import logging
import socket
import ssl
import uuid
from pathlib import Path
from typing import Any

from kubernetes import client, config
from kubernetes.client.rest import ApiException

log = logging.getLogger(__name__)

MERGE_PATCH = "application/merge-patch+json"


def load_api_client(kubeconfig: Path) -> client.ApiClient:
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    # Many threads share one client (pod workers, probes, informers); the default pool of 4
    # connections makes them queue behind each other's long watches.
    configuration.connection_pool_maxsize = 32
    return client.ApiClient(configuration)


def check_tls_endpoint(api: client.ApiClient, host: str, port: int, timeout: float = 5) -> str | None:
    """None when a TLS connection to host:port verifies against the cluster's CA for that very
    address (what in-cluster clients do with ca.crt and KUBERNETES_SERVICE_HOST), else why not."""
    ca_file = api.configuration.ssl_ca_cert
    context = ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            with context.wrap_socket(raw, server_hostname=host):
                return None
    except (OSError, ssl.SSLError) as error:
        return str(error) or type(error).__name__


def to_dict(api: client.ApiClient, obj: Any) -> dict:
    return api.sanitize_for_serialization(obj)


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def is_not_found(error: Exception) -> bool:
    return isinstance(error, ApiException) and error.status == 404


def is_conflict(error: Exception) -> bool:
    return isinstance(error, ApiException) and error.status == 409


class EventRecorder:
    """Writes core/v1 Events like the kubelet does, so `kubectl describe pod` tells the story."""

    def __init__(self, api: client.ApiClient, node_name: str):
        self._core = client.CoreV1Api(api)
        self._node_name = node_name

    def pod_event(self, pod: dict, reason: str, message: str, *, warning: bool = False,
                  field_path: str | None = None) -> None:
        meta = pod["metadata"]
        # random, not a counter: a restarted agent must not collide with its predecessor's events
        suffix = uuid.uuid4().hex[:16]
        involved = {"kind": "Pod", "apiVersion": "v1", "namespace": meta["namespace"],
                    "name": meta["name"], "uid": meta["uid"]}
        if field_path:
            involved["fieldPath"] = field_path
        body = {
            "metadata": {"name": f"{meta['name']}.{suffix}", "namespace": meta["namespace"]},
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "type": "Warning" if warning else "Normal",
            "source": {"component": "kubelet", "host": self._node_name},
            "reportingComponent": "kubelet",
            "reportingInstance": self._node_name,
            "firstTimestamp": now_rfc3339(),
            "lastTimestamp": now_rfc3339(),
            "count": 1,
        }
        try:
            self._core.create_namespaced_event(meta["namespace"], body)
        except Exception as error:  # events are best effort, as in the kubelet
            log.debug("event %s for %s/%s not recorded: %s", reason, meta["namespace"], meta["name"], error)
