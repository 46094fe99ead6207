"""The local cluster's DNS configuration (tests/cluster/clusterdns.py), without a cluster: which of
the host's resolvers CoreDNS forwards to, the Corefile, and the `kube-dns` Service's registration."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.support.kube import REPO

sys.path.insert(0, str(REPO / "tests" / "cluster"))
import clusterdns  # noqa: E402

ADDRESS = "10.96.0.10"


def test_upstreams_are_the_hosts_nameservers_but_never_itself() -> None:
    resolv_conf = f"""# comment
search example.internal
nameserver 10.255.255.53
nameserver {ADDRESS}
nameserver ::1
nameserver not-an-address
options ndots:1
"""
    assert clusterdns.upstream_resolvers(resolv_conf, ADDRESS) == ["10.255.255.53", "::1"]
    assert clusterdns.upstream_resolvers("", ADDRESS) == []


def test_the_corefile_serves_the_cluster_domain_on_the_service_address_and_forwards_the_rest() -> None:
    text = clusterdns.corefile(address=ADDRESS, kubeconfig=Path("/k/kubeconfig"), upstreams=["10.255.255.53"])
    assert text.splitlines()[1] == ".:53 {"
    assert f"    bind {ADDRESS}" in text.splitlines()
    assert "    kubernetes cluster.local in-addr.arpa ip6.arpa {" in text
    assert "kubeconfig /k/kubeconfig" in text
    assert "fallthrough in-addr.arpa ip6.arpa" in text
    assert "    forward . 10.255.255.53" in text.splitlines()
    assert "loop" not in text


def test_without_upstreams_the_corefile_forwards_nothing() -> None:
    text = clusterdns.corefile(address=ADDRESS, kubeconfig=Path("/k"), upstreams=[])
    assert "forward" not in text


def test_prepare_says_when_coredns_must_restart(tmp_path: Path) -> None:
    resolv_conf = tmp_path / "resolv.conf"
    resolv_conf.write_text("nameserver 192.0.2.53\n")
    state = tmp_path / "coredns"
    prepare = lambda: clusterdns.prepare(state, address=ADDRESS, kubeconfig=tmp_path / "kc", resolv_conf=resolv_conf)  # noqa: E731
    assert prepare() is True
    assert prepare() is False
    resolv_conf.write_text("nameserver 192.0.2.54\n")  # the host's resolver moved
    assert prepare() is True
    assert "forward . 192.0.2.54" in (state / "Corefile").read_text()


def test_the_kube_dns_service_is_selectorless_at_its_address_with_dns_ports() -> None:
    service, endpoints = json.loads(clusterdns.registration(ADDRESS))["items"]
    assert (service["metadata"]["namespace"], service["metadata"]["name"]) == ("kube-system", "kube-dns")
    assert service["metadata"]["labels"]["k8s-app"] == "kube-dns"
    assert service["spec"]["clusterIP"] == ADDRESS and "selector" not in service["spec"]
    assert [(p["port"], p["protocol"]) for p in service["spec"]["ports"]] == [(53, "UDP"), (53, "TCP")]
    assert endpoints["metadata"]["labels"]["kubernetes.io/service-name"] == "kube-dns"
    assert endpoints["endpoints"] == [{"addresses": [ADDRESS], "conditions": {"ready": True}}]
