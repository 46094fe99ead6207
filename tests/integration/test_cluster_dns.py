"""Cluster DNS, as a pod's resolver sees it (on the local cluster: CoreDNS as a host process,
tests/cluster/clusterdns.py): the `kubernetes` Service by name, a headless Service by its short
name and its full name to its ready pod's IP (how pods reach each other by name without
kube-proxy, as a Dask worker reaches its scheduler), and no answer for a name in the cluster
that does not exist. The client is busybox's nslookup in the toolbox image."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.conftest import make_namespace
from tests.integration.test_real_node import pod, wait_ready
from tests.support.kube import Kubectl, wait_for

CLUSTER_DOMAIN = "cluster.local"
CLIENT = "resolver"
HEADLESS = "peers"
# a name's answer may lag its EndpointSlice by the plugin's watch: seconds at most
ANSWER_TIMEOUT = 30


@pytest.fixture(scope="module")
def ns(kubectl: Kubectl) -> Iterator[Kubectl]:
    """One namespace and one resolving pod for the module's tests: each only asks names."""
    for name in make_namespace(kubectl):
        client = kubectl.in_namespace(name)
        client.apply(pod(CLIENT, "exec sleep 3600"))
        wait_ready(client, CLIENT)
        yield client


def nslookup(ns: Kubectl, name: str) -> tuple[int, str]:
    """(exit code, output) of the client pod's `nslookup -type=a name` through its resolv.conf."""
    found = ns.run("exec", CLIENT, "--", "nslookup", "-type=a", name, check=False)
    return found.returncode, found.stdout + found.stderr


def addresses(output: str, name: str) -> set[str]:
    """The A records busybox's nslookup printed for name (its answer section: Name:, Address:)."""
    found: set[str] = set()
    current = None
    for line in output.splitlines():
        if line.startswith("Name:"):
            current = line.split(None, 1)[1].strip().rstrip(".")
        elif line.startswith("Address:") and current == name:
            found.add(line.split(None, 1)[1].strip())
    return found


def resolves(ns: Kubectl, asked: str, answered_as: str) -> set[str]:
    """The addresses `asked` resolves to, waited for, under the full name `answered_as`."""

    def answer() -> set[str]:
        # not its exit code: busybox asks every name of the search list at once and fails when
        # any of them is unknown, though the first one answered
        return addresses(nslookup(ns, asked)[1], answered_as)

    return wait_for(answer, timeout=ANSWER_TIMEOUT, interval=1, message=f"{asked} to resolve")


def cluster_ip(kubectl: Kubectl, namespace: str, service: str) -> str:
    return kubectl.in_namespace(namespace).get_json("service", service)["spec"]["clusterIP"]


def test_a_pod_is_given_the_cluster_dns_and_its_search_list(ns: Kubectl, kubectl: Kubectl) -> None:
    resolv_conf = ns.run("exec", CLIENT, "--", "cat", "/etc/resolv.conf").stdout
    assert re.findall(r"^nameserver\s+(\S+)", resolv_conf, re.MULTILINE) == [
        cluster_ip(kubectl, "kube-system", "kube-dns")
    ]
    (search,) = re.findall(r"^search\s+(.*)$", resolv_conf, re.MULTILINE)
    assert search.split()[:3] == [
        f"{ns.namespace}.svc.{CLUSTER_DOMAIN}",
        f"svc.{CLUSTER_DOMAIN}",
        CLUSTER_DOMAIN,
    ]
    assert "ndots:5" in resolv_conf


def test_the_kube_dns_service_is_where_users_look_for_it(kubectl: Kubectl) -> None:
    service = kubectl.in_namespace("kube-system").get_json("service", "kube-dns")
    assert service["metadata"]["labels"]["k8s-app"] == "kube-dns"
    assert {(p["port"], p["protocol"]) for p in service["spec"]["ports"]} == {(53, "UDP"), (53, "TCP")}
    slices = kubectl.in_namespace("kube-system").get_json("endpointslices", "-l", "kubernetes.io/service-name=kube-dns")
    served_at = {address for item in slices["items"] for e in item["endpoints"] for address in e["addresses"]}
    assert served_at, "kube-dns has no endpoints"


def test_the_kubernetes_service_resolves_to_its_cluster_ip(ns: Kubectl, kubectl: Kubectl) -> None:
    name = f"kubernetes.default.svc.{CLUSTER_DOMAIN}"
    assert resolves(ns, name, name) == {cluster_ip(kubectl, "default", "kubernetes")}


def test_a_headless_service_resolves_to_its_ready_pod_by_short_and_full_name(ns: Kubectl) -> None:
    ns.apply(pod("peer", "exec sleep 3600", labels={"app": HEADLESS}, restart="Always"))
    peer_ip = wait_ready(ns, "peer")["status"]["podIP"]
    ns.apply(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": HEADLESS},
            "spec": {"clusterIP": "None", "selector": {"app": HEADLESS}, "ports": [{"name": "peer", "port": 8786}]},
        }
    )
    full_name = f"{HEADLESS}.{ns.namespace}.svc.{CLUSTER_DOMAIN}"
    # the short name through the pod's search list, which nslookup names by the full name it found
    assert resolves(ns, HEADLESS, full_name) == {peer_ip}
    assert resolves(ns, full_name, full_name) == {peer_ip}


def test_a_name_in_the_cluster_that_does_not_exist_is_nxdomain(ns: Kubectl) -> None:
    code, output = nslookup(ns, f"no-such-service.{ns.namespace}.svc.{CLUSTER_DOMAIN}")
    assert code != 0
    assert "NXDOMAIN" in output, output
