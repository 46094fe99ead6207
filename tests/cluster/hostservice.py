"""A Service whose server is a host process (metrics-server, CoreDNS), as the local cluster
registers it.

With no kube-proxy a ClusterIP routes nowhere, so such a Service has no selector and a fixed
ClusterIP that is also an address of the pod bridge (node.NodeLayout.host_service_ips), and the
process listens on that address at the Service's own ports: nothing translates a Service port
to a target port here. Its one EndpointSlice, made by hand, names the same address, so that
what reads endpoints finds it (the aggregator reports an APIService without endpoints
unavailable) and `kubectl get endpointslices` shows where the Service is served.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MANAGED_BY = "ballast-localcluster"
SLICE_MANAGER = "localcluster.ballast.dev"
"""Not the EndpointSlice controller's name: it leaves a slice of another manager alone."""


@dataclass(frozen=True)
class ServicePort:
    name: str
    port: int
    protocol: str = "TCP"


def service_and_endpoints(
    name: str, namespace: str, address: str, ports: tuple[ServicePort, ...], labels: dict[str, str]
) -> list[dict[str, Any]]:
    """The selectorless Service at ClusterIP `address` and the EndpointSlice naming that address,
    both labelled `labels` and managed-by the local cluster."""
    labels = {**labels, "app.kubernetes.io/managed-by": MANAGED_BY}
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "clusterIP": address,
            "ports": [{"name": p.name, "port": p.port, "targetPort": p.port, "protocol": p.protocol} for p in ports],
        },
    }
    endpoints = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{name}-host",
            "namespace": namespace,
            "labels": {
                **labels,
                "kubernetes.io/service-name": name,
                "endpointslice.kubernetes.io/managed-by": SLICE_MANAGER,
            },
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": [address], "conditions": {"ready": True}}],
        "ports": [{"name": p.name, "port": p.port, "protocol": p.protocol} for p in ports],
    }
    return [service, endpoints]


def kubectl_list(items: list[dict[str, Any]]) -> dict[str, Any]:
    """items as one kubectl apply -f document."""
    return {"apiVersion": "v1", "kind": "List", "items": items}
