"""The cluster's own ranges, found when the operator starts and again while it runs
(ballast.net.discovery, ballast.handlers.context.LiveSettings)."""

from __future__ import annotations

import ipaddress
import logging
import threading

from kubernetes.client.exceptions import ApiException

from ballast.handlers.context import LiveSettings
from ballast.net import discovery
from ballast.net.discovery import (
    keep_discovering,
    merged_cidrs,
    node_pod_ranges,
    paged_specs,
    publish_discovered_cluster_ranges,
    rediscovery_interval,
    service_cidr_ranges,
)
from ballast.net.egress import CLUSTER_CIDRS_ENV, EgressPolicy, check_url
from ballast.settings import Settings

SERVICE_CIDRS = [
    {"metadata": {"name": "kubernetes"}, "spec": {"cidrs": ["10.96.0.0/16", "fd00:10:96::/112"]}},
    {"metadata": {"name": "extra"}, "spec": {"cidrs": ["10.97.0.0/16", "not a cidr"]}},
]
NODES = [
    {"spec": {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24", "fd00:10:244::/64"]}},
    {"spec": {"podCIDR": "10.244.1.0/24"}},
    {"spec": {}},
]


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


# --- found again while the operator runs ---------------------------------------------------


def test_lists_are_read_a_page_at_a_time_keeping_only_specs():
    pages = {
        None: {
            "items": [
                {"metadata": {"name": "a"}, "spec": {"podCIDR": "10.244.0.0/24"}, "status": {"images": ["x" * 1000]}}
            ],
            "metadata": {"continue": "p2"},
        },
        "p2": {"items": [{"spec": {"podCIDR": "10.244.1.0/24"}}], "metadata": {"continue": ""}},
    }
    asked = []

    def list_page(limit, _continue):
        asked.append((limit, _continue))
        return pages[_continue]

    items = paged_specs(list_page)
    assert items == [{"spec": {"podCIDR": "10.244.0.0/24"}}, {"spec": {"podCIDR": "10.244.1.0/24"}}]
    assert asked == [(discovery.PAGE_SIZE, None), (discovery.PAGE_SIZE, "p2")]


def test_the_interval_comes_from_the_environment_and_needs_discovery_on():
    assert rediscovery_interval({}) == discovery.DEFAULT_REDISCOVER_SECONDS == 300
    assert rediscovery_interval({discovery.REDISCOVER_ENV: "60"}) == 60
    assert rediscovery_interval({discovery.REDISCOVER_ENV: "0"}) is None
    assert rediscovery_interval({discovery.DISCOVER_ENV: "false", discovery.REDISCOVER_ENV: "60"}) is None


def test_live_settings_add_only_new_ranges_and_hand_out_whole_values():
    live = LiveSettings(Settings(egress=EgressPolicy.from_strings(cluster_cidrs=["10.96.0.0/16"])))
    before = live.current()
    added = live.add_cluster_ranges([ipaddress.ip_network("10.96.0.0/16"), ipaddress.ip_network("10.244.5.0/24")])
    assert added == [ipaddress.ip_network("10.244.5.0/24")]
    assert [str(n) for n in live.current().egress.cluster_ranges] == ["10.96.0.0/16", "10.244.5.0/24"]
    assert [str(n) for n in before.egress.cluster_ranges] == ["10.96.0.0/16"]  # a value handed out never changes
    assert live.add_cluster_ranges([ipaddress.ip_network("10.244.5.0/24")]) == []
    assert check_url("http://10.244.5.9/", live.current().egress, None) is not None


def test_concurrent_additions_lose_no_range():
    live = LiveSettings(Settings())
    ranges = [ipaddress.ip_network(f"10.{i}.0.0/16") for i in range(64)]
    threads = [threading.Thread(target=live.add_cluster_ranges, args=(ranges[i::8],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(live.current().egress.cluster_ranges) == set(ranges)


def test_discovery_goes_on_and_a_node_that_joins_is_refused_from_then_on(caplog):
    caplog.set_level(logging.INFO, logger="ballast.net.discovery")
    live = LiveSettings(Settings(egress=EgressPolicy.from_strings(cluster_cidrs=["10.96.0.0/16"])))
    nodes = [{"spec": {"podCIDR": "10.244.0.0/24"}}]
    rounds = threading.Semaphore(0)

    def list_nodes():
        rounds.release()
        return list(nodes)

    def list_service_cidrs():
        raise ApiException(status=404)  # an API server before 1.33

    stop = keep_discovering(0.01, live.add_cluster_ranges, lambda: (list_service_cidrs, list_nodes))
    try:
        assert rounds.acquire(timeout=5)
        nodes.append({"spec": {"podCIDR": "10.244.7.0/24"}})
        for _ in range(3):  # the round that saw the new node has finished once the next starts
            assert rounds.acquire(timeout=5)
    finally:
        stop.set()
    assert check_url("http://10.244.7.3:8000/", live.current().egress, None) is not None
    assert "the cluster's ranges now include 10.244.7.0/24" in caplog.text
    # a problem that lasts is reported once, not at every round
    assert caplog.text.count("cannot list ServiceCIDRs (404)") == 1
