"""The NetworkPolicy of a Dataset's ingest pods: where they may connect, as the egress policy
they enforce in-process says (ballast.net.egress).

The ingest pod checks every URL it reads before it connects; this policy is the same rule one
layer down, for whatever in the pod would connect without asking that check. Where the CNI
enforces NetworkPolicies the pods reach DNS, every address outside the networks the egress
policy refuses, and inside them only what the administrator's egress.allow names by address
(a NetworkPolicy cannot name hosts) or ingest's extra rules add (an in-cluster S3 store).

One per Dataset, owned by it: applied before each of its ingest Jobs is created, so no ingest
pod runs before its policy exists; kept by server-side apply, gone with the Dataset. One per
Job would leave each pod unrestricted until its Job exists to own the policy, and one per
namespace would have no owner to be collected with.
"""

from __future__ import annotations

from typing import Any

from ballast.build.naming import COMPONENT_LABEL, INGEST_COMPONENT, INSTANCE_LABEL, ballast_labels, child_name
from ballast.build.pods import owner_reference
from ballast.net.egress import AllowRule, EgressPolicy, IPNetwork
from ballast.settings import Settings

EVERYWHERE = {4: "0.0.0.0/0", 6: "::/0"}
# wherever the pod's resolver is: a cluster DNS Service or pod (inside the refused cluster
# ranges) or a node-local cache (169.254.20.10, link-local); the egress policy reads no port 53
DNS_RULE = {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}


def ingest_network_policy_name(dataset: str) -> str:
    return child_name(dataset, INGEST_COMPONENT)


def policed_networks(egress: EgressPolicy) -> list[IPNetwork]:
    """What the NetworkPolicy keeps the pods from: every network the egress policy refuses but
    loopback, which a pod's traffic to itself never meets a NetworkPolicy on (loopback's NAT64
    and 6to4 forms stay: through a gateway they reach another host's loopback)."""
    return [network for network in egress.refused_networks() if not network.is_loopback]


def outside_refused(policed: list[IPNetwork]) -> list[dict[str, Any]]:
    """Every IPv4 and IPv6 address except the policed networks, one ipBlock per family."""
    blocks = []
    for version, everything in EVERYWHERE.items():
        excepted = [str(network) for network in policed if network.version == version]
        blocks.append({"ipBlock": {"cidr": everything, **({"except": excepted} if excepted else {})}})
    return blocks


def allowed_inside_refused(egress: EgressPolicy, policed: list[IPNetwork]) -> list[dict[str, Any]]:
    """A rule per egress.allow network that reaches into a policed network (on its port, when
    the entry names one). Host-name entries have no NetworkPolicy form and are left out."""
    return [
        _allow_rule(rule)
        for rule in egress.allow
        if rule.network is not None
        and any(rule.network.version == network.version and rule.network.overlaps(network) for network in policed)
    ]


def _allow_rule(rule: AllowRule) -> dict[str, Any]:
    ports = {"ports": [{"port": rule.port, "protocol": "TCP"}]} if rule.port is not None else {}
    return {"to": [{"ipBlock": {"cidr": str(rule.network)}}], **ports}


def build_ingest_network_policy(dataset: dict[str, Any], settings: Settings) -> dict[str, Any]:
    name = dataset["metadata"]["name"]
    labels = ballast_labels(component=INGEST_COMPONENT, instance=name)
    policed = policed_networks(settings.egress)
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": ingest_network_policy_name(name),
            "namespace": dataset["metadata"]["namespace"],
            "labels": labels,
            "ownerReferences": [owner_reference(dataset)],
        },
        "spec": {
            # the labels build_ingest_job gives this Dataset's ingest pods
            "podSelector": {"matchLabels": {key: labels[key] for key in (COMPONENT_LABEL, INSTANCE_LABEL)}},
            "policyTypes": ["Egress"],
            "egress": [
                DNS_RULE,
                {"to": outside_refused(policed)},
                *allowed_inside_refused(settings.egress, policed),
                *(dict(rule) for rule in settings.ingest_extra_egress),
            ],
        },
    }
