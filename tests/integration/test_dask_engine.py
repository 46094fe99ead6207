"""The Dask engine on the real cluster: the dask-kubernetes operator, installed from its own chart
and running from the image built here (the dask_operator fixture), creates the scheduler and
worker pods of a DaskCluster from Ballast's image, in a namespace that enforces the Pod Security
Standard "restricted"; and a DaskJob's runner computes on those workers."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.support.dask_engine import dask_cluster, dask_job
from tests.support.image import ballast_image
from tests.support.kube import Kubectl, wait_for

# The runner's computation: a sum over a range, split into chunks the two workers share, checked
# against the closed form, and the names of the workers that did it.
JOB_SCRIPT = """
import socket
from distributed import Client

client = Client(timeout=120)
client.wait_for_workers(2, timeout=240)
chunks = client.map(lambda lo: sum(range(lo, lo + 1000)), range(0, 100_000, 1000))
total = client.submit(sum, chunks).result()
assert total == 99_999 * 100_000 // 2, total
workers = sorted(client.run(socket.gethostname).values())
print("DASK-RESULT", total, ",".join(workers))
client.close()
"""


@pytest.fixture
def dask(kubectl: Kubectl, dask_operator) -> Kubectl:
    """kubectl in the namespace the operator serves (its own), and the image the pods run."""
    return kubectl.in_namespace(dask_operator.namespace)


def pods(kubectl: Kubectl, cluster: str) -> list[dict]:
    return kubectl.get_json("pods", "--selector", f"dask.org/cluster-name={cluster}")["items"]


def by_component(items: list[dict]) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = {}
    for pod in items:
        grouped.setdefault(pod["metadata"]["labels"]["dask.org/component"], []).append(pod)
    return grouped


def ready(pod: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))


def operator_state(kubectl: Kubectl) -> str:
    """The namespace's pods and the operator's log, for a failure's message."""
    listing = kubectl.run("get", "pods,daskclusters,daskjobs", "-o", "wide", check=False).stdout
    log = kubectl.run("logs", "deployment/dask-operator-dask-kubernetes-operator", "--tail=40", check=False)
    return f"{listing}\noperator log:\n{log.stdout}{log.stderr}"


def assert_restricted(pod: dict) -> None:
    """What the restricted standard asks of a pod, as the operator made it from the spec."""
    spec = pod["spec"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in spec["containers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"]["drop"] == ["ALL"]


def test_operator_creates_a_scheduler_and_two_workers_that_run(dask: Kubectl, dask_operator):
    image = ballast_image()
    name = f"dc-{uuid.uuid4().hex[:6]}"
    dask.apply(dask_cluster(name, image, workers=2))
    try:

        def running() -> dict[str, list[dict]] | None:
            grouped = by_component(pods(dask, name))
            scheduler, workers = grouped.get("scheduler", []), grouped.get("worker", [])
            phases = [p["status"].get("phase") for p in scheduler + workers]
            return grouped if (len(scheduler), len(workers)) == (1, 2) and set(phases) == {"Running"} else None

        try:
            grouped = wait_for(running, timeout=240, interval=2, message=f"DaskCluster {name}'s 3 pods Running")
        except AssertionError as late:
            raise AssertionError(f"{late}\n{operator_state(dask)}") from None
        for pod in grouped["scheduler"] + grouped["worker"]:
            assert_restricted(pod)
            assert [c["image"] for c in pod["spec"]["containers"]] == [image]
            assert pod["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"  # of the operator's Deployment
        # the scheduler answers its readiness probe (/health, on its own address)
        wait_for(
            lambda: all(ready(p) for p in by_component(pods(dask, name)).get("scheduler", [])),
            timeout=120,
            interval=2,
            message="the scheduler pod Ready",
        )
        service = dask.get_json("service", f"{name}-scheduler")
        assert service["spec"]["clusterIP"] == "None"
        # each worker pod is its own Deployment of the DaskWorkerGroup the operator made
        group = dask.get_json("daskworkergroup", f"{name}-default")
        assert group["spec"]["worker"]["replicas"] == 2
    finally:
        dask.run("delete", "daskcluster", name, "--wait=false", check=False)


def test_dask_job_sums_a_range_on_the_workers(dask: Kubectl, dask_operator):
    """Needs cluster DNS: the runner and the workers reach the scheduler at
    <job>-scheduler.<namespace>.svc.cluster.local, the address the operator gives them."""
    image = ballast_image()
    name = f"dj-{uuid.uuid4().hex[:6]}"
    dask.apply(dask_job(name, image, workers=2, script=JOB_SCRIPT))
    runner = f"{name}-runner"
    try:

        def finished() -> dict | None:
            status = dask.get_json("daskjob", name).get("status", {})
            return status if status.get("jobStatus") in {"Successful", "Failed"} else None

        status = wait_for(
            finished,
            timeout=420,
            interval=3,
            message=f"DaskJob {name} finished",
        )
        log = dask.run("logs", runner, check=False).stdout
        assert status["jobStatus"] == "Successful", (
            f"DaskJob {name}: {json.dumps(status)}\nrunner log:\n{log}\n{operator_state(dask)}"
        )
        (result,) = [line.split() for line in log.splitlines() if line.startswith("DASK-RESULT")]
        assert int(result[1]) == 4_999_950_000
        assert len(result[2].split(",")) == 2
    finally:
        dask.run("delete", "daskjob", name, "--wait=false", check=False)
