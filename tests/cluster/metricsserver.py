"""metrics-server on the local cluster: the resource metrics API (metrics.k8s.io) that
HorizontalPodAutoscalers and `kubectl top` read, from the real kubelet's /metrics/resource.

It runs as a host process beside the kubelet (built by build.sh from its Go module), and the
API server reaches it through the aggregation layer: the APIService v1beta1.metrics.k8s.io
names a Service without a selector, at a fixed ClusterIP (localcluster.metrics_service_ip) that
is an address of the pod bridge, where metrics-server listens (hostservice.py): the aggregator's
dial of ClusterIP:port reaches it with no change to the API server's flags
(--enable-aggregator-routing would need a new control plane).

The aggregator authenticates to it with its proxy client certificate (kwokctl's admin one) and
names the user who asked in X-Remote-* headers, which metrics-server trusts from that
certificate only (--requestheader-allowed-names) and authorizes with the API server.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import hostservice
import pki
from supervise import Daemon

NAMESPACE = "kube-system"
SERVICE = "metrics-server"
API_SERVICE = "v1beta1.metrics.k8s.io"
DEFAULT_PORT = 4443
METRIC_RESOLUTION = "15s"
"""How often it scrapes the kubelet (its own default is 60s): an autoscaler sees load within
seconds, so a test of scaling up and down takes minutes."""


def port() -> int:
    """BALLAST_METRICS_SERVER_PORT, for a second cluster on the machine."""
    return int(os.environ.get("BALLAST_METRICS_SERVER_PORT") or DEFAULT_PORT)


def prepare(state: Path, *, ca_dir: Path, address: str) -> bool:
    """Its serving certificate, signed by the cluster CA; True when it was made anew (a recreated
    cluster has a new CA), so that a running metrics-server must be restarted to serve it."""
    cert = _serving_certificate(state)
    before = cert.stat().st_mtime if cert.exists() else None
    made, _ = pki.ensure_signed_certificate(
        state,
        cert.stem,
        subject=f"/CN={SERVICE}.{NAMESPACE}.svc",
        ca_dir=ca_dir,
        # the aggregator verifies the name <service>.<namespace>.svc against the APIService's caBundle
        subject_alt_names=(f"DNS:{SERVICE}.{NAMESPACE}.svc", f"IP:{address}"),
    )
    return made.stat().st_mtime != before


def _serving_certificate(state: Path) -> Path:
    return state / "serving.crt"


def daemon(
    bin_dir: Path, state: Path, log: Path, *, kubeconfig: Path, address: str, ca_dir: Path, proxy_client_name: str
) -> Daemon:
    """state: its directory (serving certificate from prepare, pidfile); address: its Service's
    ClusterIP, a host address on the pod bridge; proxy_client_name: the common name of the API
    server's proxy client certificate, signed by the CA in ca_dir."""
    cert = _serving_certificate(state)
    argv = [
        str(bin_dir / "metrics-server"),
        f"--bind-address={address}",
        f"--secure-port={port()}",
        f"--tls-cert-file={cert}",
        f"--tls-private-key-file={cert.with_suffix('.key')}",
        f"--kubeconfig={kubeconfig}",
        # who asked: the aggregator's X-Remote-* headers, trusted from its certificate alone (the
        # API server publishes no requestheader CA: kwokctl gives it no such flags); whether they
        # may: a SubjectAccessReview to the API server
        f"--requestheader-client-ca-file={ca_dir / 'ca.crt'}",
        f"--requestheader-allowed-names={proxy_client_name}",
        "--requestheader-username-headers=X-Remote-User",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--kubelet-preferred-address-types=InternalIP",
        "--kubelet-use-node-status-port",
        # the kubelet serves a self-signed certificate, which the API server does not verify either
        # (no --kubelet-certificate-authority); the connection stays on this host
        "--kubelet-insecure-tls",
        f"--metric-resolution={METRIC_RESOLUTION}",
    ]
    return Daemon("metrics-server", argv, pidfile=state / "metrics-server.pid", log=log)


def registration(ca_cert: Path, address: str) -> str:
    """The APIService, its selectorless Service at the ClusterIP `address` and the EndpointSlice
    naming the same address, as a kubectl apply -f document (JSON list)."""
    labels = {"app.kubernetes.io/name": "metrics-server"}
    service_and_endpoints = hostservice.service_and_endpoints(
        SERVICE, NAMESPACE, address, (hostservice.ServicePort("https", port()),), labels
    )
    api_service = {
        "apiVersion": "apiregistration.k8s.io/v1",
        "kind": "APIService",
        "metadata": {"name": API_SERVICE, "labels": {**labels, "app.kubernetes.io/managed-by": hostservice.MANAGED_BY}},
        "spec": {
            "group": "metrics.k8s.io",
            "version": "v1beta1",
            "service": {"name": SERVICE, "namespace": NAMESPACE, "port": port()},
            "caBundle": base64.b64encode(ca_cert.read_bytes()).decode(),
            "groupPriorityMinimum": 100,
            "versionPriority": 100,
        },
    }
    return json.dumps(hostservice.kubectl_list([*service_and_endpoints, api_service]), indent=2)
