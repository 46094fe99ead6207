"""The cluster's own service and pod ranges, discovered once when the operator starts, so the
egress policy refuses them without an administrator listing them (chart value
egress.clusterCIDRs adds to what is found, never the other way round).

Two cheap lists, each allowed to fail (a missing API, no permission): ServiceCIDR objects
(networking.k8s.io/v1, Kubernetes 1.33+; the `kubernetes` default one holds the
--service-cluster-ip-range) and the Nodes' spec.podCIDRs (set where the controller manager
allocates node ranges; CNI plugins that manage their own IPAM leave them empty, so listing the
pod range in the chart values is the reliable way there).

What is found joins BALLAST_EGRESS_CLUSTER_CIDRS in the operator's environment before its
settings are read, so the operator and the ingest pods it starts (ballast.build.jobs) use
one and the same policy.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass, field

from ballast.net.egress import CLUSTER_CIDRS_ENV, IPNetwork

DISCOVER_ENV = "BALLAST_EGRESS_DISCOVER"
REQUEST_TIMEOUT_SECONDS = 10

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Discovered:
    ranges: tuple[IPNetwork, ...] = ()
    problems: tuple[str, ...] = field(default=())
    """What could not be listed, for the log: the operator starts anyway."""


def service_cidr_ranges(service_cidrs: Iterable[dict]) -> list[IPNetwork]:
    return _networks(cidr for item in service_cidrs for cidr in ((item.get("spec") or {}).get("cidrs") or ()))


def node_pod_ranges(nodes: Iterable[dict]) -> list[IPNetwork]:
    cidrs = []
    for node in nodes:
        spec = node.get("spec") or {}
        cidrs += spec.get("podCIDRs") or ([spec["podCIDR"]] if spec.get("podCIDR") else [])
    return _networks(cidrs)


def merged_cidrs(configured: str, found: Iterable[IPNetwork]) -> str:
    """The comma-separated CIDRs of the environment with those found added (each once)."""
    entries = [entry.strip() for entry in configured.split(",") if entry.strip()]
    known = set(entries)
    entries += [str(network) for network in found if str(network) not in known]
    return ",".join(dict.fromkeys(entries))


Lister = Callable[[], list[dict]]


def discover(list_service_cidrs: Lister, list_nodes: Lister) -> Discovered:
    """The ranges of the ServiceCIDRs and Nodes the two listers return; each may fail on its own."""
    ranges: list[IPNetwork] = []
    problems: list[str] = []
    for what, list_items, parse in (("ServiceCIDRs", list_service_cidrs, service_cidr_ranges),
                                    ("Nodes", list_nodes, node_pod_ranges)):
        try:
            items = list_items()
        except Exception as error:  # noqa: BLE001 - a missing API or permission must not stop the operator
            problems.append(f"cannot list {what} ({getattr(error, 'status', None) or type(error).__name__})")
            continue
        ranges += [network for network in parse(items) if network not in ranges]
    return Discovered(tuple(ranges), tuple(problems))


def api_listers() -> tuple[Lister, Lister]:
    """The two lists through the operator's API client, as plain dicts."""
    from kubernetes import client  # the operator's dependency; ingest pods never discover

    from ballast.kube import api_client

    api = api_client()

    def items(answer) -> list[dict]:
        return api.sanitize_for_serialization(answer).get("items") or []

    return (lambda: items(client.NetworkingV1Api(api).list_service_cidr(_request_timeout=REQUEST_TIMEOUT_SECONDS)),
            lambda: items(client.CoreV1Api(api).list_node(_request_timeout=REQUEST_TIMEOUT_SECONDS)))


def publish_discovered_cluster_ranges(environ: MutableMapping[str, str],
                                      listers: Callable[[], tuple[Lister, Lister]] = api_listers) -> Discovered | None:
    """Discovers the cluster's ranges (unless BALLAST_EGRESS_DISCOVER is false) and adds them to
    BALLAST_EGRESS_CLUSTER_CIDRS in `environ`: call before the operator's settings are read."""
    if environ.get(DISCOVER_ENV, "true").strip().lower() == "false":
        return None
    try:
        found = discover(*listers())
    except Exception as error:  # noqa: BLE001 - no cluster configuration at all: kopf will say so
        found = Discovered(problems=(f"cannot reach the API ({type(error).__name__})",))
    environ[CLUSTER_CIDRS_ENV] = merged_cidrs(environ.get(CLUSTER_CIDRS_ENV, ""), found.ranges)
    for problem in found.problems:
        log.warning("egress: %s: the cluster's ranges found there are not refused unless egress.clusterCIDRs "
                    "lists them", problem)
    return found


def _networks(cidrs: Iterable[str]) -> list[IPNetwork]:
    networks: list[IPNetwork] = []
    for cidr in cidrs:
        try:
            network = ipaddress.ip_network(str(cidr).strip(), strict=False)
        except ValueError:
            log.warning("egress: ignoring %r, which is not a CIDR", str(cidr)[:64])
            continue
        if network not in networks:
            networks.append(network)
    return networks
