"""The NetworkPolicy of a ModelVersion's serving pods: who may reach them.

The server answers inference, feedback and /metrics on its HTTP port and inference on its gRPC
port (ballast.build.serving), and a NetworkPolicy selects ports, not paths: the one rule admits
the inference peers the administrator names (default: the version's own namespace), the
operator's namespace (it reads /metrics for canaries and drift) and the metrics peers
(Prometheus) to both ports, the same peers to each, since either API infers. Nothing else
reaches the pods; that the feedback path needs a token (ballast.build.feedback_token) is what
keeps inference clients from labelling.
"""

from __future__ import annotations

from typing import Any

from ballast.build.naming import COMPONENT_LABEL, SERVING_COMPONENT
from ballast.build.serving import GRPC_PORT, SERVING_PORT, VERSION_LABEL, serving_child_metadata
from ballast.settings import Settings

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"  # set by the API server on every namespace


SERVING_POLICY_PORTS = [{"port": SERVING_PORT, "protocol": "TCP"}, {"port": GRPC_PORT, "protocol": "TCP"}]
"""Every port the server listens on: REST (with feedback and /metrics) and gRPC."""


def serving_ingress_peers(settings: Settings) -> list[dict[str, Any]]:
    """Everyone the serving port admits: inference clients, the operator's namespace, metrics readers."""
    operator = (
        [{"namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: settings.operator_namespace}}}]
        if settings.operator_namespace
        else []
    )
    peers: list[dict[str, Any]] = []
    for peer in [*settings.serving_inference_from, *operator, *settings.serving_metrics_from]:
        if dict(peer) not in peers:
            peers.append(dict(peer))
    return peers


def build_serving_network_policy(version: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """One per version, owned by it (it goes with the version) and selecting its pods only."""
    name = version["metadata"]["name"]
    peers = serving_ingress_peers(settings)
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": serving_child_metadata(version),
        "spec": {
            "podSelector": {"matchLabels": {VERSION_LABEL: name, COMPONENT_LABEL: SERVING_COMPONENT}},
            "policyTypes": ["Ingress"],
            # an empty `from` would admit everyone: with no peer at all, the pods admit nobody
            "ingress": [{"ports": SERVING_POLICY_PORTS, "from": peers}] if peers else [],
        },
    }
