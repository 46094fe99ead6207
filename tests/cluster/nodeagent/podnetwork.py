"""Pod networking the way the bridge CNI plugin does it: a host bridge holding the gateway
address of the pod CIDR, and per pod a network namespace whose `eth0` is one end of a veth pair
plugged into that bridge, with the pod's address and a default route via the gateway.

So every pod has its own ports (two pods may both listen on 0.0.0.0:8080), its own `lo`, and
an address the API server accepts in EndpointSlices. The host reaches pods over the bridge
(probes, tests), pods reach each other across it, and pods reach the host, and so the API
server, at the gateway address. Nothing here enables IP forwarding or NAT, and forwarding is
switched off for packets arriving on the bridge: a packet for any address outside the pod CIDR
and the host's own addresses is dropped by the host, so pod traffic cannot leave the machine.

One agent owns a bridge: it holds a lock on it for its lifetime, and everything it creates is
named after the bridge, so stale namespaces and veths (from an agent that was SIGKILLed) can
be found and removed without touching anyone else's.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import ipaddress
import logging
import os
import re
import threading
from pathlib import Path

from .iproute import IpCommandError, ip_json, run_ip

log = logging.getLogger(__name__)

NETNS_DIR = Path("/run/netns")  # where `ip netns add` pins namespaces
LOCK_DIR = Path("/run/ballast-nodeagent")
VETH_PREFIX = "bv"
MAX_IFNAME = 15  # IFNAMSIZ - 1
_IFNAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
_UID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@dataclasses.dataclass(frozen=True)
class PodNetworkLayout:
    """Names and addresses, derived from the bridge name and the CIDR alone."""
    bridge: str
    cidr: ipaddress.IPv4Network

    def __post_init__(self):
        if not _IFNAME.match(self.bridge):
            raise ValueError(f"bridge name {self.bridge!r}: 1-{MAX_IFNAME} letters, digits, '_', '.' or '-'")
        if self.cidr.prefixlen > 30:
            raise ValueError(f"pod CIDR {self.cidr} is too small: it needs a gateway and pod addresses")

    @property
    def gateway(self) -> str:
        return str(self.cidr.network_address + 1)

    def netns_name(self, pod_uid: str) -> str:
        return f"{self.bridge}-{pod_uid}"

    def netns_path(self, pod_uid: str) -> str:
        return str(NETNS_DIR / self.netns_name(pod_uid))

    def host_veth(self, pod_uid: str) -> str:
        # interface names have 15 characters, a uid has 36; 48 bits of a hash cannot collide
        # among a node's pods in practice
        return VETH_PREFIX + hashlib.sha256(f"{self.bridge}/{pod_uid}".encode()).hexdigest()[:12]

    def owns_netns(self, name: str) -> bool:
        # the whole rest must be a pod uid: bridge `b` must not claim bridge `b-x`'s namespaces
        prefix = f"{self.bridge}-"
        return name.startswith(prefix) and bool(_UID.match(name[len(prefix):]))


def host_conflicts(cidr: ipaddress.IPv4Network, routes: list[dict], links: list[dict], bridge: str) -> list[str]:
    """What the host already routes or owns inside `cidr`, ignoring the default route and our
    own bridge (left by an earlier agent). Pods there would shadow, or be shadowed by, it."""
    conflicts = []
    for route in routes:
        dst = route.get("dst", "")
        if dst == "default" or route.get("dev") == bridge:
            continue
        try:
            if ipaddress.ip_network(dst, strict=False).overlaps(cidr):
                conflicts.append(f"route {dst} via {route.get('dev', '?')}")
        except ValueError:
            continue
    for link in links:
        if link.get("ifname") == bridge:
            continue
        for address in link.get("addr_info") or []:
            if address.get("family") == "inet" and ipaddress.ip_address(address["local"]) in cidr:
                conflicts.append(f"address {address['local']} on {link.get('ifname')}")
    return conflicts


class BridgeBusyError(Exception):
    """Another agent holds the bridge."""


class PodNetwork:
    def __init__(self, layout: PodNetworkLayout, lock_dir: Path = LOCK_DIR):
        self.layout = layout
        self._lock_path = lock_dir / f"{layout.bridge}.lock"
        self._lock_file = None
        # pod workers run in parallel; `ip netns add` sets up /run/netns on first use, which
        # two concurrent first calls would both do, so namespace changes go one at a time
        self._changes = threading.Lock()

    # --- ownership ---------------------------------------------------------------------------

    def acquire(self) -> None:
        """Holds the bridge until this process exits (the kernel drops the lock then)."""
        if not self.try_acquire():
            raise BridgeBusyError(f"another node agent is using bridge {self.layout.bridge} "
                                  f"(lock {self._lock_path}); give this one another --pod-bridge and --pod-cidr")

    def try_acquire(self) -> bool:
        self._lock_path.parent.mkdir(parents=True, exist_ok=True)
        lock_file = open(self._lock_path, "w")
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock_file.close()
            return False
        self._lock_file = lock_file
        return True

    def release(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    # --- the bridge --------------------------------------------------------------------------

    def ensure_bridge(self) -> None:
        bridge, cidr = self.layout.bridge, self.layout.cidr
        conflicts = host_conflicts(cidr, ip_json("-4", "route", "show"), ip_json("-4", "addr", "show"), bridge)
        if conflicts:
            raise IpCommandError(f"pod CIDR {cidr} overlaps what this host already has ({'; '.join(conflicts)}); "
                                 f"choose another --pod-cidr")
        if not _link_exists(bridge):
            run_ip("link", "add", "name", bridge, "type", "bridge")
            log.info("created bridge %s", bridge)
        # `replace`, not `add`: a restarted agent finds the address already there
        run_ip("addr", "replace", f"{self.layout.gateway}/{cidr.prefixlen}", "dev", bridge)
        run_ip("link", "set", bridge, "up")
        # Pods are routed to the host, never through it: with forwarding off for packets that
        # arrive on the bridge, pod traffic stays on this machine even if someone turns on
        # ip_forward for other reasons (the kernel checks the receiving interface's setting).
        _write_sysctl(f"net/ipv4/conf/{bridge}/forwarding", "0")

    def remove_bridge(self) -> None:
        self.remove_all_pods()
        if _link_exists(self.layout.bridge):
            run_ip("link", "del", self.layout.bridge)

    # --- pods --------------------------------------------------------------------------------

    def set_up(self, pod_uid: str, address: str) -> str:
        """A fresh namespace for the pod, wired to the bridge; returns its path for nsenter."""
        with self._changes:
            return self._set_up(pod_uid, address)

    def _set_up(self, pod_uid: str, address: str) -> str:
        layout = self.layout
        netns, veth = layout.netns_name(pod_uid), layout.host_veth(pod_uid)
        self._tear_down(pod_uid)  # a half-built one from a failed attempt
        try:
            run_ip("netns", "add", netns)
            # the pod's end is created inside its namespace, so its name (eth0) cannot clash
            run_ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns)
            run_ip("link", "set", veth, "master", layout.bridge, "up")
            run_ip("-batch", "-", netns=netns, stdin="\n".join([
                "link set lo up",
                f"addr add {address}/{layout.cidr.prefixlen} dev eth0",
                "link set eth0 up",
                f"route add default via {layout.gateway} dev eth0",
            ]) + "\n")
        except IpCommandError:
            try:
                self._tear_down(pod_uid)
            except IpCommandError as error:
                log.warning("could not undo a failed network set-up of pod %s: %s", pod_uid, error)
            raise
        return layout.netns_path(pod_uid)

    def tear_down(self, pod_uid: str) -> None:
        """Removes the pod's veth and namespace; a no-op when they are gone already."""
        with self._changes:
            self._tear_down(pod_uid)

    def _tear_down(self, pod_uid: str) -> None:
        veth, netns = self.layout.host_veth(pod_uid), self.layout.netns_name(pod_uid)
        # deleting the veth first frees the pair even if some process still holds the namespace
        if _link_exists(veth):
            run_ip("link", "del", veth)
        if (NETNS_DIR / netns).exists():
            run_ip("netns", "del", netns)

    def remove_all_pods(self) -> int:
        """Every namespace and veth of this bridge's pods: at agent start (what a killed agent
        left) and at agent stop. Returns how many namespaces went."""
        with self._changes:
            removed = 0
            try:
                bridge = self.layout.bridge
                ports = ip_json("link", "show", "master", bridge) if _link_exists(bridge) else []
            except IpCommandError as error:
                log.warning("cleanup: %s", error)
                ports = []
            for link in ports:
                name = link.get("ifname", "")
                if name.startswith(VETH_PREFIX):
                    _quietly(run_ip, "link", "del", name)
            names = sorted(os.listdir(NETNS_DIR)) if NETNS_DIR.is_dir() else []
            for name in names:
                if self.layout.owns_netns(name):
                    removed += _quietly(run_ip, "netns", "del", name)
            return removed

    def netns_names(self) -> list[str]:
        names = os.listdir(NETNS_DIR) if NETNS_DIR.is_dir() else []
        return sorted(n for n in names if self.layout.owns_netns(n))


def _write_sysctl(key: str, value: str) -> None:
    try:
        Path("/proc/sys", key).write_text(value)
    except OSError as error:
        raise IpCommandError(f"could not set {key.replace('/', '.')}={value}: {error}") from None


def _link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def _quietly(function, *args) -> bool:
    """Cleanup goes on past one failure; the failure is logged, not raised."""
    try:
        function(*args)
        return True
    except IpCommandError as error:
        log.warning("cleanup: %s", error)
        return False
