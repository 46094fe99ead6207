"""workloads.nodeSelector and workloads.tolerations reach the pods the operator creates, and
the real scheduler places them by it, on the local cluster."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import make_namespace
from tests.support.ballast_objects import condition, dataset, iris_rows, wait_for_condition
from tests.support.kube import Kubectl, shared_store_dir, wait_for
from tests.support.operator_process import OperatorProcess

TOLERATIONS = [{"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}]


@pytest.fixture
def own_namespace(kubectl: Kubectl) -> Iterator[str]:
    """Outside the session operator's pattern: the placed operator is its only one."""
    yield from make_namespace(kubectl, prefix="placed-")


def _placed_operator(kubeconfig: Path, namespace: str, log: Path, node_selector: dict) -> OperatorProcess:
    placement = {
        "BALLAST_WORKLOAD_NODE_SELECTOR": json.dumps(node_selector),
        "BALLAST_WORKLOAD_TOLERATIONS": json.dumps(TOLERATIONS),
    }
    return OperatorProcess(kubeconfig, log, store_dir=shared_store_dir(), env=placement, namespaces=(namespace,))


def _unscheduled_pod(k: Kubectl) -> dict | None:
    for pod in k.get_json("pods", "-l", "app.kubernetes.io/managed-by=ballast")["items"]:
        scheduled = condition(pod, "PodScheduled") if pod.get("status", {}).get("conditions") else {}
        if scheduled.get("reason") == "Unschedulable":
            return pod
    return None


def _ready_with_reason(k: Kubectl, dataset_name: str, reason: str) -> dict | None:
    ready = condition(k.get_json("dataset", dataset_name), "Ready")
    return ready if ready.get("reason") == reason else None


def test_pods_carry_the_placement_go_only_where_it_points_and_a_stuck_one_is_named(
    kubectl: Kubectl, kubeconfig: Path, own_namespace: str, crds, tmp_path: Path
):
    k = kubectl.in_namespace(own_namespace)
    # No node has this label: the ingest pod carries the placement and waits, unscheduled.
    with _placed_operator(kubeconfig, own_namespace, tmp_path / "nowhere.log", {"pool": "nowhere"}) as operator:
        k.apply(dataset("stranded", {"inline": {"rows": iris_rows()}}))
        pod = wait_for(lambda: _unscheduled_pod(k), timeout=60, message="an unschedulable ingest pod")
        assert pod["spec"]["nodeSelector"] == {"pool": "nowhere"}
        assert TOLERATIONS[0] in pod["spec"]["tolerations"]  # beside the ones Kubernetes adds
        # ... and the Dataset says why at once, instead of waiting for the Job's deadline
        stuck = wait_for(
            lambda: _ready_with_reason(k, "stranded", "PodCannotStart"), timeout=30, message="Ready says PodCannotStart"
        )
        assert stuck["status"] == "Unknown", stuck
        # the scheduler's words; the first ones may be about the store's claim, bound a moment later
        wait_for(
            lambda: (
                "node affinity/selector"
                in (_ready_with_reason(k, "stranded", "PodCannotStart") or {}).get("message", "")
            ),
            timeout=30,
            message="Ready naming the node selector",
        )
        events = k.get_json("events", "--field-selector", "involvedObject.name=stranded,reason=PodCannotStart")
        assert [e["type"] for e in events["items"]] == ["Warning"], events["items"]
        k.run("delete", "dataset", "stranded", "--wait=true")  # while its operator runs: finalizer removed
    assert operator.log_problems() == []

    # The real node has this label: the same Dataset ingests there.
    with _placed_operator(
        kubeconfig, own_namespace, tmp_path / "placed.log", {"kubernetes.io/hostname": "ballast-node-0"}
    ) as operator:
        k.apply(dataset("iris", {"inline": {"rows": iris_rows()}}))
        ready = wait_for_condition(k, "dataset", "iris", "Ready", timeout=120)
        assert condition(ready, "Ready")["status"] == "True", ready["status"]
        scheduled = k.get_json("events", "--field-selector", "reason=Scheduled")["items"]
        assert scheduled and all("ballast-node-0" in event["message"] for event in scheduled), scheduled
        k.run("delete", "dataset", "iris", "--wait=true")
    assert operator.log_problems() == []
