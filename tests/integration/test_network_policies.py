"""Ballast's NetworkPolicies on the real local cluster (issue 12): a Dataset's ingest pods get one
that holds them to the egress policy one layer down, the ingest still succeeds under it, and a
policy deleted by hand is applied again within seconds while one deleted with its owner stays
gone. The local bridge CNI enforces no NetworkPolicy: what is seen is the objects, never a
dropped packet."""

from __future__ import annotations

import time

import pytest

from ballast.build.ingest_network_policy import build_ingest_network_policy
from ballast.net.discovery import node_pod_ranges, service_cidr_ranges
from ballast.net.egress import ALLOW_ENV, EgressPolicy
from ballast.settings import Settings
from tests.integration.test_training import _serve_iris_csv, _valid_version
from tests.support.ballast_objects import dataset
from tests.support.kube import Kubectl, wait_for
from tests.support.operator_process import TEST_SETTINGS


@pytest.fixture
def k(kubectl: Kubectl, namespace: str, ballast_operator) -> Kubectl:
    return kubectl.in_namespace(namespace)


def the_operators_egress(kubectl: Kubectl) -> EgressPolicy:
    """The tests' allow list and the ranges the operator discovers, read the way it reads them."""
    found = [
        *service_cidr_ranges(kubectl.get_json("servicecidrs")["items"]),
        *node_pod_ranges(kubectl.get_json("nodes")["items"]),
    ]
    return EgressPolicy.from_strings(allow=TEST_SETTINGS[ALLOW_ENV].split(",")).with_cluster_ranges(found)


def comes_back_after_deletion(k: Kubectl, name: str, timeout: float = 10) -> tuple[dict, float]:
    """Deletes the NetworkPolicy and waits for a new one of that name: (it, seconds taken)."""
    uid = k.get_json("networkpolicy", name)["metadata"]["uid"]
    k.run("delete", "networkpolicy", name, "--wait=true")
    deleted_at = time.monotonic()
    again = wait_for(
        lambda: (lambda p: p if p["metadata"]["uid"] != uid else None)(k.get_json("networkpolicy", name)),
        timeout=timeout,
        interval=0.2,
        message=f"NetworkPolicy {name} applied again",
    )
    return again, time.monotonic() - deleted_at


def test_an_ingest_runs_under_its_datasets_network_policy_which_comes_back_when_deleted(k: Kubectl, kubectl: Kubectl):
    pod_ip = _serve_iris_csv(k)
    k.apply(dataset("from-url", {"url": f"http://{pod_ip}:8000/iris.csv"}))
    document = _valid_version(k, "from-url")  # the ingest succeeded with its policy in place
    assert document["status"]["latestVersion"]

    policy = k.get_json("networkpolicy", "from-url-ingest")
    assert [(o["kind"], o["uid"]) for o in policy["metadata"]["ownerReferences"]] == [
        ("Dataset", document["metadata"]["uid"])
    ]
    egress = the_operators_egress(kubectl)
    expected = build_ingest_network_policy(document, Settings(egress=egress))
    assert policy["spec"] == expected["spec"]
    assert policy["spec"]["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/component": "ingest",
        "app.kubernetes.io/instance": "from-url",
    }
    (_, reach, *allowed) = policy["spec"]["egress"]
    v4 = next(peer["ipBlock"]["except"] for peer in reach["to"] if peer["ipBlock"]["cidr"] == "0.0.0.0/0")
    # the metadata range and the service range the operator discovered from the ServiceCIDR
    assert {"169.254.0.0/16", "10.96.0.0/16"} <= set(v4) and "127.0.0.0/8" not in v4
    if any(str(network).startswith("10.244.") for network in egress.cluster_ranges):
        # the pod range is refused, and the tests' allow list opens it again, as an administrator would
        assert {"to": [{"ipBlock": {"cidr": "10.244.0.0/16"}}]} in allowed

    again, seconds = comes_back_after_deletion(k, "from-url-ingest")
    assert (
        again["spec"] == policy["spec"]
        and again["metadata"]["ownerReferences"] == policy["metadata"]["ownerReferences"]
    )
    print(f"\ningest NetworkPolicy applied again {seconds:.1f} s after its deletion")

    # deleted with its Dataset by the garbage collector: it stays deleted
    k.run("delete", "dataset", "from-url", "--wait=true")
    wait_for(
        lambda: k.run("get", "networkpolicy", "from-url-ingest", check=False).returncode != 0,
        timeout=30,
        message="the policy collected with its Dataset",
    )
    time.sleep(3)
    assert k.run("get", "networkpolicy", "from-url-ingest", check=False).returncode != 0
