"""The cluster's own service and pod ranges, discovered when the operator starts and again
every few minutes while it runs (a Node that joins brings its pod range, a ServiceCIDR added
extends the service range), so the egress policy refuses them without an administrator
listing them (chart value egress.clusterCIDRs adds to what is found, never the other way round).

Two cheap lists, each allowed to fail (a missing API, no permission): ServiceCIDR objects
(networking.k8s.io/v1, Kubernetes 1.33+; the `kubernetes` default one holds the
--service-cluster-ip-range) and the Nodes' spec.podCIDRs (set where the controller manager
allocates node ranges; CNI plugins that manage their own IPAM leave them empty, so listing the
pod range in the chart values is the reliable way there).

What is found at start joins BALLAST_EGRESS_CLUSTER_CIDRS in the operator's environment before
its settings are read; what is found later is added to the settings the handlers read
(ballast.handlers.context.LiveSettings). Either way the operator and the ingest pods it starts
(ballast.build.jobs) use one and the same policy: a pod gets it as it stood when its Job was built.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field

from ballast.net.egress import CLUSTER_CIDRS_ENV, IPNetwork

DISCOVER_ENV = "BALLAST_EGRESS_DISCOVER"
REDISCOVER_ENV = "BALLAST_EGRESS_REDISCOVER_SECONDS"
DEFAULT_REDISCOVER_SECONDS = 300.0
REQUEST_TIMEOUT_SECONDS = 10
PAGE_SIZE = 500  # a list of thousands of Nodes is read a page at a time, keeping only their specs

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
    for what, list_items, parse in (
        ("ServiceCIDRs", list_service_cidrs, service_cidr_ranges),
        ("Nodes", list_nodes, node_pod_ranges),
    ):
        try:
            items = list_items()
        except Exception as error:  # noqa: BLE001 - a missing API or permission must not stop the operator
            problems.append(f"cannot list {what} ({getattr(error, 'status', None) or type(error).__name__})")
            continue
        ranges += [network for network in parse(items) if network not in ranges]
    return Discovered(tuple(ranges), tuple(problems))


def paged_specs(list_page: Callable[..., dict]) -> list[dict]:
    """Every item of a paginated list, keeping only its spec: `list_page(limit=, _continue=)`
    answers one page as a plain dict."""
    items, token = [], None
    while True:
        page = list_page(limit=PAGE_SIZE, _continue=token)
        items += [{"spec": item.get("spec") or {}} for item in page.get("items") or []]
        token = (page.get("metadata") or {}).get("continue")
        if not token:
            return items


def api_listers() -> tuple[Lister, Lister]:
    """The two lists through the operator's API client, as plain dicts holding only their spec."""
    from ballast.kube_api import request  # the operator's dependency; ingest pods never discover

    def pages(resource_path: str) -> Callable[..., dict]:
        return lambda limit, _continue: request(
            "GET", resource_path, query={"limit": limit, "continue": _continue}, timeout=REQUEST_TIMEOUT_SECONDS
        )

    return (
        lambda: paged_specs(pages("/apis/networking.k8s.io/v1/servicecidrs")),
        lambda: paged_specs(pages("/api/v1/nodes")),
    )


def discover_through(listers: Callable[[], tuple[Lister, Lister]]) -> Discovered:
    try:
        return discover(*listers())
    except Exception as error:  # noqa: BLE001 - no cluster configuration at all: kopf will say so
        return Discovered(problems=(f"cannot reach the API ({type(error).__name__})",))


def discovery_enabled(environ: Mapping[str, str]) -> bool:
    return environ.get(DISCOVER_ENV, "true").strip().lower() != "false"


def rediscovery_interval(environ: Mapping[str, str]) -> float | None:
    """Seconds between discoveries after the one at start; None when discovery is off or the
    interval is 0 (the ranges found at start are then kept for the operator's lifetime)."""
    seconds = float(environ.get(REDISCOVER_ENV) or DEFAULT_REDISCOVER_SECONDS)
    return seconds if discovery_enabled(environ) and seconds > 0 else None


def publish_discovered_cluster_ranges(
    environ: MutableMapping[str, str], listers: Callable[[], tuple[Lister, Lister]] = api_listers
) -> Discovered | None:
    """Discovers the cluster's ranges (unless BALLAST_EGRESS_DISCOVER is false) and adds them to
    BALLAST_EGRESS_CLUSTER_CIDRS in `environ`: call before the operator's settings are read."""
    if not discovery_enabled(environ):
        return None
    found = discover_through(listers)
    environ[CLUSTER_CIDRS_ENV] = merged_cidrs(environ.get(CLUSTER_CIDRS_ENV, ""), found.ranges)
    _warn(found.problems)
    return found


def keep_discovering(
    every_seconds: float,
    add_ranges: Callable[[Iterable[IPNetwork]], list[IPNetwork]],
    listers: Callable[[], tuple[Lister, Lister]] = api_listers,
    problems_at_start: tuple[str, ...] = (),
) -> threading.Event:
    """A daemon thread that discovers every `every_seconds` and hands what it finds to
    `add_ranges` (which returns the ranges that were new); set the returned event to stop it.
    A problem is logged when it appears, not at every round it lasts."""
    stop = threading.Event()

    def discover_until_stopped() -> None:
        reported = problems_at_start
        while not stop.wait(every_seconds):
            found = discover_through(listers)
            added = add_ranges(found.ranges)
            if added:
                log.info(
                    "egress: the cluster's ranges now include %s, refused from now on",
                    ", ".join(str(network) for network in added),
                )
            _warn(tuple(problem for problem in found.problems if problem not in reported))
            reported = found.problems

    threading.Thread(target=discover_until_stopped, name="egress-discovery", daemon=True).start()
    return stop


def _warn(problems: Iterable[str]) -> None:
    for problem in problems:
        log.warning(
            "egress: %s: the cluster's ranges found there are not refused unless egress.clusterCIDRs lists them",
            problem,
        )


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
