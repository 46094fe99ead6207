"""Issue 12, row 10: forged or huge scrapes. The chart's tenant role cannot create pods, so the
attacker here is a tenant given Kubernetes' built-in `edit` ClusterRole in its namespace, as
many platforms do. It runs impostors (metrics_impostor.py) next to its own served model
`payments`: pods with the serving labels of the real one and a /metrics of forged counters or of
512 MiB, and one that also claims the real ReplicaSet as its controller.

The operator reads counters only from pods whose owner chain ends at the version's own
Deployment (ballast.canary.pods), so a copied label is not enough; a forged owner reference
is judged by the ReplicaSet controller, which counts the impostor as one of its replicas and
deletes the surplus, the newest and not-yet-ready pod, at once. An impostor that claims the
ReplicaSet only once it is Ready, with a higher pod-deletion-cost, is kept instead of the real
pod: then the operator reads it, and its counters become the attacker's own drift numbers. What
that forges is the attacker's own namespace's numbers (its policies and canaries, which the same
`edit` role could steer anyway), never another namespace's: the last test shows both.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.security.clients import ImpersonatingKubectl
from tests.security.conftest import Tenants, bind
from tests.security.metrics_impostor import FORGED_COUNT, impostor_pod, requests_to
from tests.security.served import Served, drift_policy, last_evaluation, serving_pods
from tests.support.ballast_objects import condition
from tests.support.kube import Kubectl, wait_for
from tests.support.operator_process import OperatorProcess

EDITOR = "trudy"
POD_TEMPLATE_HASH = "pod-template-hash"
OPERATOR_RSS_BOUND = 300 << 20
EVALUATIONS_WATCHED = 4


@dataclass(frozen=True)
class Impostors:
    by_label: list[str]
    """Pods with the serving labels but no owner: what the operator must never read."""
    by_owner: str
    """The pod that also claims the real ReplicaSet as its controller."""
    adopted_later: str
    """The pod that claims it only once Ready, and asks to be the last one scaled down."""
    labels: dict[str, str]
    """The real serving pod's labels."""
    replica_set: dict


@pytest.fixture(scope="module")
def editor(kubeconfig, kubectl: Kubectl, tenants: Tenants) -> Iterator[ImpersonatingKubectl]:
    """A third user of the attacker's namespace, bound to Kubernetes' built-in `edit` role: it may create pods."""
    namespace = tenants.attacker.namespace
    binding = bind(kubectl, namespace, EDITOR, "edit")
    editor = ImpersonatingKubectl(kubeconfig, EDITOR, namespace=namespace)
    wait_for(lambda: editor.can("create", "pods", namespace), timeout=30, message=f"{EDITOR} may create pods")
    yield editor
    kubectl.in_namespace(namespace).run("delete", "rolebinding", binding, "--ignore-not-found", check=False)


@pytest.fixture(scope="module")
def impostors(served: Served, tenants: Tenants, editor: ImpersonatingKubectl) -> Iterator[Impostors]:
    tenants.attacker.client.apply(drift_policy("self-watch", "payments"))  # the attacker's own pods, scraped
    real = [
        pod
        for pod in serving_pods(served.attacker, served.attacker_version)
        if condition(pod, "Ready").get("status") == "True"
    ][0]
    labels = real["metadata"]["labels"]
    owner = next(ref for ref in real["metadata"]["ownerReferences"] if ref.get("controller"))
    replica_set = served.attacker.get_json("replicaset", owner["name"])
    copied = {key: value for key, value in labels.items() if key != POD_TEMPLATE_HASH}  # else the ReplicaSet adopts it
    pods = {
        "impostor-forged": impostor_pod("impostor-forged", copied, "forged"),
        "impostor-adopted": impostor_pod("impostor-adopted", copied, "forged"),
        "impostor-huge": impostor_pod("impostor-huge", copied, "huge"),
        "impostor-owned": impostor_pod(
            "impostor-owned", labels, "forged", owner={key: owner[key] for key in ("apiVersion", "kind", "name", "uid")}
        ),
    }
    for pod in pods.values():
        editor.apply(pod)
    yield Impostors(["impostor-forged", "impostor-huge"], "impostor-owned", "impostor-adopted", labels, replica_set)
    editor.run("delete", "pod", *pods, "--ignore-not-found", "--wait=false", check=False)
    tenants.attacker.client.run("delete", "driftpolicy", "self-watch", "--wait=false", check=False)


def pod_ready(admin: Kubectl, name: str) -> bool:
    pod = admin.get_json("pods", "--field-selector", f"metadata.name={name}")["items"]
    return bool(pod) and condition(pod[0], "Ready").get("status") == "True"


def evaluations(admin: Kubectl, policy: str, count: int, timeout: float = 60) -> list[str]:
    seen, deadline = [last_evaluation(admin, policy)], time.monotonic() + timeout
    while len(seen) <= count and time.monotonic() < deadline:
        latest = last_evaluation(admin, policy)
        if latest != seen[-1]:
            seen.append(latest)
        time.sleep(0.5)
    assert len(seen) > count, f"{policy} evaluated {seen[1:]} in {timeout} s"
    return seen[1:]


def test_row10_impostors_with_copied_labels_are_never_scraped_and_numbers_stay_true(
    served: Served, impostors: Impostors, tenant_operator: OperatorProcess
):
    for name in impostors.by_label:
        wait_for(lambda: pod_ready(served.attacker, name), timeout=90, message=f"{name} Ready")
    # both policies evaluate, their scrapes made while the impostors serve
    evaluations(served.attacker, "self-watch", EVALUATIONS_WATCHED)
    evaluations(served.victim, "watch", 1)
    for name in impostors.by_label:
        assert requests_to(served.attacker, name) == [], f"{name} was asked: {requests_to(served.attacker, name)}"
    for admin, policy in ((served.attacker, "self-watch"), (served.victim, "watch")):
        status = admin.get_json("driftpolicy", policy)["status"]
        assert (status.get("samples") or 0) < FORGED_COUNT, status
        assert condition(admin.get_json("driftpolicy", policy), "Ready").get("status") == "True", status
    memory = tenant_operator.resident_memory()
    print(f"the operator with the impostors serving: {memory}")
    assert memory.peak_bytes < OPERATOR_RSS_BOUND, memory


def test_row10_an_impostor_claiming_the_replica_set_is_deleted_by_it_before_it_is_scraped(
    served: Served, impostors: Impostors
):
    name = impostors.by_owner
    wait_for(
        lambda: not served.attacker.get_json("pods", "--field-selector", f"metadata.name={name}")["items"],
        timeout=30,
        message=f"the ReplicaSet deleting {name}",
    )
    events = served.attacker.get_json(
        "events", "--field-selector", f"involvedObject.uid={impostors.replica_set['metadata']['uid']}"
    )["items"]
    print("the ReplicaSet's events:", [(event["reason"], event["message"]) for event in events])
    assert [event for event in events if event["reason"] == "SuccessfulDelete" and name in event["message"]], events
    # the ReplicaSet's real pod is still the one serving, and the operator never read the impostor
    owned = [
        pod["metadata"]["name"]
        for pod in serving_pods(served.attacker, served.attacker_version)
        if condition(pod, "Ready").get("status") == "True" and pod["metadata"].get("ownerReferences")
    ]
    assert len(owned) == 1 and owned[0] != name, owned
    status = served.attacker.get_json("driftpolicy", "self-watch")["status"]
    assert (status.get("samples") or 0) < FORGED_COUNT, status


def test_row10_an_impostor_adopted_once_ready_replaces_the_real_pod_and_forges_only_its_own_namespace(
    served: Served, impostors: Impostors, editor: ImpersonatingKubectl
):
    name, replica_set = impostors.adopted_later, impostors.replica_set
    wait_for(lambda: pod_ready(served.attacker, name), timeout=90, message=f"{name} Ready")
    real = [
        pod["metadata"]["name"]
        for pod in serving_pods(served.attacker, served.attacker_version)
        if pod["metadata"].get("ownerReferences")
    ]
    owner = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "name": replica_set["metadata"]["name"],
        "uid": replica_set["metadata"]["uid"],
        "controller": True,
    }
    editor.run(
        "patch",
        "pod",
        name,
        "--type=merge",
        "-p",
        json.dumps(
            {
                "metadata": {
                    "labels": impostors.labels,
                    "ownerReferences": [owner],
                    "annotations": {"controller.kubernetes.io/pod-deletion-cost": "1000"},
                }
            }
        ),
    )
    # the ReplicaSet now has one pod too many, and scales down the one that costs less to delete
    wait_for(
        lambda: (
            not served.attacker.get_json("pods", "--field-selector", f"metadata.name={real[0]}")["items"]
            or served.attacker.get_json("pod", real[0])["metadata"].get("deletionTimestamp")
        ),
        timeout=30,
        message=f"the ReplicaSet deleting the real pod {real[0]}",
    )
    # the owner chain now holds, so the operator reads it: its counters become the attacker's own numbers
    forged = wait_for(
        lambda: (lambda status: status if (status.get("samples") or 0) >= FORGED_COUNT else None)(
            served.attacker.get_json("driftpolicy", "self-watch")["status"]
        ),
        timeout=30,
        message="the forged counters in the attacker's own policy",
    )
    scraped = [r for r in requests_to(served.attacker, name) if r.endswith("/metrics")]
    victim = served.victim.get_json("driftpolicy", "watch")["status"]
    print(
        f"{name}: scraped {len(scraped)} times; the attacker's own policy: samples {forged.get('samples')}, "
        f"verdict {forged.get('verdict')}; the victim's: samples {victim.get('samples')}, "
        f"verdict {victim.get('verdict')}"
    )
    assert (victim.get("samples") or 0) < FORGED_COUNT, victim
