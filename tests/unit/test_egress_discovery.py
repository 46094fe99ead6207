"""The cluster's own ranges, found when the operator starts (ballast.net.discovery)."""

from __future__ import annotations

import ipaddress

from kubernetes.client.exceptions import ApiException

from ballast.net import discovery
from ballast.net.discovery import merged_cidrs, node_pod_ranges, publish_discovered_cluster_ranges, service_cidr_ranges
from ballast.net.egress import CLUSTER_CIDRS_ENV, EgressPolicy, check_url

SERVICE_CIDRS = [{"metadata": {"name": "kubernetes"}, "spec": {"cidrs": ["10.96.0.0/16", "fd00:10:96::/112"]}},
                 {"metadata": {"name": "extra"}, "spec": {"cidrs": ["10.97.0.0/16", "not a cidr"]}}]
NODES = [{"spec": {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24", "fd00:10:244::/64"]}},
         {"spec": {"podCIDR": "10.244.1.0/24"}}, {"spec": {}}]


def test_service_cidrs_and_node_pod_ranges_are_read_from_their_objects():
    assert [str(n) for n in service_cidr_ranges(SERVICE_CIDRS)] == ["10.96.0.0/16", "fd00:10:96::/112", "10.97.0.0/16"]
    assert [str(n) for n in node_pod_ranges(NODES)] == ["10.244.0.0/24", "fd00:10:244::/64", "10.244.1.0/24"]


def test_what_is_found_joins_what_the_administrator_listed():
    found = [ipaddress.ip_network("10.96.0.0/16"), ipaddress.ip_network("10.244.0.0/24")]
    assert merged_cidrs("10.96.0.0/16, 10.250.0.0/16", found) == "10.96.0.0/16,10.250.0.0/16,10.244.0.0/24"
    assert merged_cidrs("", []) == ""


def listers(service_cidrs, nodes):
    """The two lists from memory; a status code instead makes that list fail as the API would."""
    def lister(answer):
        def list_items():
            if isinstance(answer, int):
                raise ApiException(status=answer)
            return answer
        return list_items
    return lambda: (lister(service_cidrs), lister(nodes))


def test_the_ranges_found_are_refused_by_the_policy_the_operator_then_reads():
    environ = {CLUSTER_CIDRS_ENV: "10.250.0.0/16"}
    found = publish_discovered_cluster_ranges(environ, listers(SERVICE_CIDRS, NODES))
    assert found.problems == ()
    policy = EgressPolicy.from_env(environ)
    for url in ("http://10.96.0.10/", "http://10.244.1.9:8080/", "http://[fd00:10:96::1]/", "http://10.250.3.3/"):
        assert check_url(url, policy, None) is not None, url


def test_a_list_that_fails_leaves_the_other_and_the_configured_ranges(caplog):
    environ = {CLUSTER_CIDRS_ENV: "10.96.0.0/12"}
    found = publish_discovered_cluster_ranges(environ, listers(403, NODES))
    assert found.problems == ("cannot list ServiceCIDRs (403)",)
    assert environ[CLUSTER_CIDRS_ENV] == "10.96.0.0/12,10.244.0.0/24,fd00:10:244::/64,10.244.1.0/24"
    assert "cannot list ServiceCIDRs" in caplog.text


def test_discovery_can_be_turned_off():
    environ = {discovery.DISCOVER_ENV: "false", CLUSTER_CIDRS_ENV: "10.96.0.0/12"}
    assert publish_discovered_cluster_ranges(environ, listers(SERVICE_CIDRS, NODES)) is None
    assert environ == {discovery.DISCOVER_ENV: "false", CLUSTER_CIDRS_ENV: "10.96.0.0/12"}
