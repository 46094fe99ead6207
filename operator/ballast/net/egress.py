"""Which addresses Ballast may read from on a user's behalf: the defence against server-side
request forgery through `DriftPolicy.spec.source.prometheusUrl` and `Dataset.spec.source.url`.

A user who may create those objects chooses a URL that the operator (or an ingest pod) then
reads with its own network position: a cloud metadata endpoint answers it with credentials,
a cluster Service answers it without authentication. So, by default, every address in
DEFAULT_DENIED and in the cluster's own service and pod ranges is refused, whatever name
leads to it; an administrator's allow list (host names, host:port, CIDRs) overrides the
denies, e.g. for an in-cluster Prometheus.

Every address a host name resolves to is checked (one denied address refuses the URL: the
client could pick any of them), and the reader connects to an address that was checked,
never resolving again (ballast.net.http), so DNS rebinding has no window.

The policy travels from the operator to the ingest pod in two environment variables
(`to_env` / `from_env`), read by the same code on both sides.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]

EGRESS_DENIED = "EgressDenied"
"""The condition reason of a refused URL, wherever it is read."""
ALLOW_ENV = "BALLAST_EGRESS_ALLOW"
CLUSTER_CIDRS_ENV = "BALLAST_EGRESS_CLUSTER_CIDRS"
SCHEMES = {"http": 80, "https": 443}
CLUSTER_RANGE = "the cluster's service or pod range"

DEFAULT_DENIED: tuple[tuple[IPNetwork, str], ...] = tuple(
    (ipaddress.ip_network(cidr), name)
    for cidr, name in (
        ("127.0.0.0/8", "loopback"),
        ("::1/128", "loopback"),
        ("169.254.0.0/16", "link-local (cloud metadata lives at 169.254.169.254)"),
        ("fe80::/10", "link-local"),
        ("0.0.0.0/8", "unspecified"),
        ("::/128", "unspecified"),
        ("100.100.100.200/32", "cloud metadata (Alibaba Cloud)"),
        ("fd00:ec2::254/128", "cloud metadata (AWS, IPv6)"),
        ("168.63.129.16/32", "cloud metadata (Azure wire server)"),
        ("224.0.0.0/4", "multicast"),
        ("ff00::/8", "multicast"),
        ("255.255.255.255/32", "broadcast"),
    )
)
# IPv6 forms that carry an IPv4 address a host may route to: ::ffff:127.0.0.1 reaches loopback.
NAT64 = ipaddress.ip_network("64:ff9b::/96")
SIXTOFOUR = ipaddress.ip_network("2002::/16")


class EgressDenied(Exception):
    """The URL is not one Ballast may read; the message says why, naming no server's answer."""

    reason = EGRESS_DENIED


@dataclass(frozen=True)
class Refusal:
    reason: str
    message: str


@dataclass(frozen=True)
class AllowRule:
    """One entry of the administrator's allow list: a host name or a network, optionally with a port."""

    host: str | None = None
    network: IPNetwork | None = None
    port: int | None = None

    def permits_host(self, host: str, port: int) -> bool:
        return self.host is not None and self.host == _normal_host(host) and self.port in (None, port)

    def permits_address(self, address: IPAddress, port: int) -> bool:
        return (
            self.network is not None
            and address.version == self.network.version
            and address in self.network
            and self.port in (None, port)
        )

    def __str__(self) -> str:
        network = self.network
        single = network is not None and network.prefixlen == network.max_prefixlen
        where = self.host if network is None else str(network.network_address) if single else str(network)
        if self.port is None:
            return where
        return f"[{where}]:{self.port}" if ":" in where else f"{where}:{self.port}"


def parse_allow_rule(text: str) -> AllowRule:
    """`host`, `host:port`, an address, `[v6]:port`, or a CIDR; ValueError naming the entry."""
    entry = text.strip()
    if not entry:
        raise ValueError("an empty egress allow entry")
    try:
        return AllowRule(network=ipaddress.ip_network(entry, strict=False))
    except ValueError:
        pass
    host, port = entry, None
    if entry.startswith("["):
        inside, _, rest = entry[1:].partition("]")
        host, port = inside, _port(rest.removeprefix(":"), entry) if rest else None
    elif entry.count(":") == 1:
        host, port_text = entry.split(":")
        port = _port(port_text, entry)
    try:
        return AllowRule(network=ipaddress.ip_network(host), port=port)
    except ValueError:
        pass
    if not host or any(c in host for c in "/@ ?#[]:"):
        raise ValueError(f"egress allow entry {text!r} is not a host name, host:port, address or CIDR")
    return AllowRule(host=_normal_host(host), port=port)


@dataclass(frozen=True)
class EgressPolicy:
    """What Ballast may read: everything but the default denies and the cluster's ranges,
    unless the allow list names the host or the address."""

    allow: tuple[AllowRule, ...] = ()
    cluster_ranges: tuple[IPNetwork, ...] = ()
    denied: tuple[tuple[IPNetwork, str], ...] = field(default=DEFAULT_DENIED, repr=False)

    @classmethod
    def from_strings(cls, allow: Iterable[str] = (), cluster_cidrs: Iterable[str] = ()) -> EgressPolicy:
        return cls(
            allow=tuple(parse_allow_rule(entry) for entry in allow if entry.strip()),
            cluster_ranges=tuple(_cidr(entry) for entry in cluster_cidrs if entry.strip()),
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> EgressPolicy:
        """From comma-separated BALLAST_EGRESS_ALLOW and BALLAST_EGRESS_CLUSTER_CIDRS (unset: none)."""
        return cls.from_strings(environ.get(ALLOW_ENV, "").split(","), environ.get(CLUSTER_CIDRS_ENV, "").split(","))

    def to_env(self) -> dict[str, str]:
        return {
            ALLOW_ENV: ",".join(str(rule) for rule in self.allow),
            CLUSTER_CIDRS_ENV: ",".join(str(network) for network in self.cluster_ranges),
        }

    def allowing_url(self, url: str | None) -> EgressPolicy:
        """This policy with the URL's host:port allowed too (the chart's own Prometheus)."""
        if not url:
            return self
        target = parse_target(url)
        if isinstance(target, Refusal):
            return self
        return replace(self, allow=(*self.allow, parse_allow_rule(_host_port(target.host, target.port))))

    def with_cluster_ranges(self, ranges: Iterable[IPNetwork]) -> EgressPolicy:
        known = list(self.cluster_ranges)
        known += [network for network in ranges if network not in known]
        return replace(self, cluster_ranges=tuple(known))

    def refused_networks(self) -> tuple[IPNetwork, ...]:
        """Every network this policy refuses, each once: the default denies, the cluster's
        ranges, and the IPv6 forms that carry one of their IPv4 addresses (NAT64 and 6to4;
        an IPv4-mapped address leaves a host as IPv4). What a NetworkPolicy cannot resolve
        host names for, it can still list (ballast.build.ingest_network_policy)."""
        direct = [network for network, _ in self.denied] + list(self.cluster_ranges)
        embedded = [
            form for network in direct if isinstance(network, ipaddress.IPv4Network) for form in ipv6_forms(network)
        ]
        return tuple(dict.fromkeys([*direct, *embedded]))

    def permits_host(self, host: str, port: int) -> bool:
        return any(rule.permits_host(host, port) for rule in self.allow)

    def denied_range(self, address: IPAddress, port: int) -> str | None:
        """The name of the denied range the address is in, or None when it may be read."""
        address = _without_scope(address)
        if any(rule.permits_address(address, port) for rule in self.allow):
            return None
        for candidate in (address, *_embedded_ipv4(address)):
            for network, name in (*self.denied, *((n, CLUSTER_RANGE) for n in self.cluster_ranges)):
                if candidate.version == network.version and candidate in network:
                    return name
        return None


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int


def parse_target(url: str) -> Target | Refusal:
    """The scheme, host and port a URL reads from; a Refusal for anything but plain http(s)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return Refusal(EGRESS_DENIED, "the URL is malformed (its port or host cannot be read)")
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        return Refusal(EGRESS_DENIED, f"the scheme {scheme or 'of the URL'!r} is not http or https")
    if not parts.hostname:
        return Refusal(EGRESS_DENIED, "the URL names no host")
    return Target(scheme, parts.hostname, port or SCHEMES[scheme])


def check_address(policy: EgressPolicy, target: Target, address: str) -> Refusal | None:
    """Whether the target may be read at this address (one the host name resolved to)."""
    if policy.permits_host(target.host, target.port):
        return None
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return Refusal(EGRESS_DENIED, f"{target.host} resolved to something that is not an address")
    denied = policy.denied_range(parsed, target.port)
    if denied is None:
        return None
    shown = target.host if target.host == address else f"{target.host} ({address})"
    return Refusal(
        EGRESS_DENIED,
        f"{shown} is in {denied}, which Ballast does not read from unless an administrator allows it (egress.allow)",
    )


def resolve(host: str, port: int) -> list[str]:
    """Every address the host name resolves to (an address resolves to itself); OSError when none."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def checked_addresses(url: str, policy: EgressPolicy, resolver: Resolver = resolve) -> tuple[Target, list[str]]:
    """The target and the addresses to connect to, every one checked. EgressDenied when the URL
    or any address is refused; OSError when the name does not resolve."""
    target = parse_target(url)
    if isinstance(target, Refusal):
        raise EgressDenied(target.message)
    addresses = [_literal(target.host)] if _is_literal(target.host) else resolver(target.host, target.port)
    if not addresses:
        raise OSError(f"{target.host} resolves to no address")
    for address in addresses:
        refusal = check_address(policy, target, address)
        if refusal is not None:
            raise EgressDenied(refusal.message)
    return target, addresses


def check_url(url: str, policy: EgressPolicy, resolver: Resolver | None = resolve) -> Refusal | None:
    """A Refusal when Ballast must not read the URL, else None. For a reconciler's early check:
    with `resolver=None` host names are not resolved (only the scheme, literal addresses and the
    allow list are judged; the reader checks the resolved addresses again anyway). A name that
    does not resolve is not refused here: reading it will say it is unreachable."""
    try:
        if resolver is None:
            target = parse_target(url)
            if isinstance(target, Refusal):
                return target
            if not _is_literal(target.host):
                return None
            return check_address(policy, target, _literal(target.host))
        checked_addresses(url, policy, resolver)
    except EgressDenied as denied:
        return Refusal(EGRESS_DENIED, str(denied))
    except OSError:
        return None
    return None


def ipv6_forms(network: ipaddress.IPv4Network) -> list[ipaddress.IPv6Network]:
    """The NAT64 and 6to4 networks whose addresses carry the IPv4 network's: what
    `_embedded_ipv4` reads back out of an address."""
    v4, length = int(network.network_address), network.prefixlen
    return [
        ipaddress.IPv6Network((int(NAT64.network_address) | v4, NAT64.prefixlen + length)),
        ipaddress.IPv6Network((int(SIXTOFOUR.network_address) | v4 << 80, SIXTOFOUR.prefixlen + length)),
    ]


def _embedded_ipv4(address: IPAddress) -> list[ipaddress.IPv4Address]:
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    embedded = [address.ipv4_mapped, address.sixtofour]
    if address in NAT64:
        embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return [found for found in embedded if found is not None]


def _without_scope(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        return ipaddress.IPv6Address(str(address).split("%")[0])
    return address


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(_literal(host))
    except ValueError:
        return False
    return True


def _literal(host: str) -> str:
    return host.strip("[]")


def _normal_host(host: str) -> str:
    return host.lower().rstrip(".")


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _port(text: str, entry: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"egress allow entry {entry!r} has no valid port")
    return int(text)


def _cidr(text: str) -> IPNetwork:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise ValueError(f"egress cluster CIDR {text.strip()!r} is not a CIDR") from None
