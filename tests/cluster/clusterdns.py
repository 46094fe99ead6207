"""Cluster DNS on the local cluster: CoreDNS, whose kubernetes plugin answers for cluster.local
from the API server's Services and EndpointSlices. A Service's name resolves to its ClusterIP
(which routes nowhere here: there is no kube-proxy), a headless Service's (clusterIP: None) to
the IPs of its ready pods, which is how pods reach each other by name on this cluster.

It runs as a host process beside the kubelet (built by build.sh from its Go module), as
metrics-server does: the kubelet writes one nameserver address into every pod's resolv.conf
(clusterDNS), and with no kube-proxy a DNS pod behind a ClusterIP would be unreachable there.
So the `kube-dns` Service's ClusterIP (localcluster.dns_service_ip, kubeadm's 10.96.0.10) is
an address of the pod bridge and CoreDNS listens on it, port 53, UDP and TCP (hostservice.py).
As a host process it also reaches the API server on loopback with the cluster's kubeconfig, and
the host's own resolvers, to which it forwards every name outside the cluster: pods resolve
those as they did before the cluster had DNS.
"""

from __future__ import annotations

import ipaddress
import json
import os
from pathlib import Path

import hostservice
from supervise import Daemon, wait_until_answering, write_config

NAMESPACE = "kube-system"
SERVICE = "kube-dns"  # the name every cluster gives its DNS Service, whatever serves it
CLUSTER_DOMAIN = "cluster.local"
DEFAULT_PORT = 53
DEFAULT_READY_PORT = 8181  # CoreDNS's own default for its ready plugin
HOST_RESOLV_CONF = Path("/etc/resolv.conf")
CACHE_SECONDS = 30


def port() -> int:
    """BALLAST_DNS_PORT, for a second cluster on the machine (whose pods, told port 53 by the
    kubelet, then ask the first cluster's DNS)."""
    return int(os.environ.get("BALLAST_DNS_PORT") or DEFAULT_PORT)


def ready_port() -> int:
    """BALLAST_DNS_READY_PORT, for a second cluster on the machine."""
    return int(os.environ.get("BALLAST_DNS_READY_PORT") or DEFAULT_READY_PORT)


def upstream_resolvers(resolv_conf: str, own_address: str) -> list[str]:
    """The nameservers of a resolv.conf that CoreDNS may forward to: never its own address, which
    would be a forwarding loop (what the `loop` plugin would otherwise have to catch, by exiting)."""
    found = []
    for line in resolv_conf.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "nameserver":
            try:
                address = ipaddress.ip_address(fields[1])
            except ValueError:
                continue
            if address != ipaddress.ip_address(own_address):
                found.append(str(address))
    return found


def corefile(*, address: str, kubeconfig: Path, upstreams: list[str]) -> str:
    """The Corefile, kubeadm's with the local cluster's differences: bound to the Service's
    address alone (the host has other DNS servers and other users of port 8181), the API server
    through the kubeconfig rather than the in-cluster config, no health or prometheus ports, and
    no `loop` plugin (upstream_resolvers keeps the loop out). With no upstream, names outside the
    cluster fail to resolve, as they would on the host."""
    forward = f"    forward . {' '.join(upstreams)}\n" if upstreams else ""
    return f"""# written by tests/cluster/clusterdns.py
.:{port()} {{
    bind {address}
    errors
    ready {address}:{ready_port()}
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        kubeconfig {kubeconfig}
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }}
{forward}    # names in the cluster come fresh from the plugin's watch: a new Service resolves at once
    cache {CACHE_SECONDS} {{
        disable success {CLUSTER_DOMAIN}
        disable denial {CLUSTER_DOMAIN}
    }}
}}
"""


def _corefile_path(state: Path) -> Path:
    return state / "Corefile"


def prepare(state: Path, *, address: str, kubeconfig: Path, resolv_conf: Path = HOST_RESOLV_CONF) -> bool:
    """Writes the Corefile; True when it changed, so that a running CoreDNS must restart to read
    it (the host's resolvers are read here, each `up`)."""
    upstreams = upstream_resolvers(resolv_conf.read_text() if resolv_conf.exists() else "", address)
    return write_config(_corefile_path(state), corefile(address=address, kubeconfig=kubeconfig, upstreams=upstreams))


def daemon(bin_dir: Path, state: Path, log: Path) -> Daemon:
    """state: its directory (the Corefile from prepare, pidfile)."""
    argv = [str(bin_dir / "coredns"), "-conf", str(_corefile_path(state))]
    return Daemon("coredns", argv, pidfile=state / "coredns.pid", log=log)


def wait_until_ready(coredns: Daemon, pid: int, address: str) -> None:
    """Until its ready plugin says the kubernetes plugin has synced with the API server: before
    that, a name in the cluster may go unanswered."""
    wait_until_answering(coredns, pid, f"http://{address}:{ready_port()}/ready")


def registration(address: str) -> str:
    """The selectorless `kube-dns` Service at the ClusterIP `address` and its EndpointSlice, with
    the labels a kubeadm cluster's has, as a kubectl apply -f document (JSON list)."""
    labels = {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS", "app.kubernetes.io/name": "coredns"}
    ports = (
        hostservice.ServicePort("dns", port(), "UDP"),
        hostservice.ServicePort("dns-tcp", port(), "TCP"),
    )
    items = hostservice.service_and_endpoints(SERVICE, NAMESPACE, address, ports, labels)
    return json.dumps(hostservice.kubectl_list(items), indent=2)
