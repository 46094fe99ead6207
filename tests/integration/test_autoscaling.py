"""serving.autoscaling on the real local cluster: the operator's HorizontalPodAutoscaler, fed by
the real metrics-server (tests/cluster/metricsserver.py) from the real kubelet, scales a
Production version's Deployment up under a real load on its predict endpoint and back down
after it stops; the operator's reconciles in between leave the replicas the autoscaler set;
switching autoscaling off removes the autoscaler and gives the replicas back to the spec."""

from __future__ import annotations

import threading
import urllib.error

import pytest

from tests.support import traffic
from tests.support.ballast_objects import (
    condition,
    iris_rows,
    training_run,
    wait_for_condition,
    with_iris_dataset,
)
from tests.support.kube import Kubectl, wait_for
from tests.support.traffic import ready_endpoints

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
MAX_REPLICAS = 3
# a CPU request this small makes one busy model server far above the target (a load from
# one test process is enough on a 2-core machine shared with other work), and an idle one
# (probes and scrapes cost a few millicores) well below it
AUTOSCALING = {
    "minReplicas": 1,
    "maxReplicas": MAX_REPLICAS,
    "targetCpuUtilization": 50,
    "scaleDownStabilizationSeconds": 20,
}
SERVING = {"replicas": 1, "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}}, "autoscaling": AUTOSCALING}


@pytest.fixture
def k(kubectl: Kubectl, namespace: str, ballast_operator) -> Kubectl:
    """The test's namespace, with the iris Dataset ingested and valid."""
    return with_iris_dataset(kubectl.in_namespace(namespace))


def hammer(k: Kubectl, stop: threading.Event, answered: list[int]) -> None:
    """Predict requests back to back, each to a ready pod of the model's Service, as kube-proxy
    would spread them."""
    rows = iris_rows()[:20]
    turn = 0
    while not stop.is_set():
        endpoints = ready_endpoints(k, "iris")
        for _ in range(50):
            if stop.is_set() or not endpoints:
                break
            turn += 1
            try:
                traffic.infer(endpoints[turn % len(endpoints)], "iris", FEATURES, rows)
                answered.append(1)
            except (urllib.error.URLError, OSError):
                break  # that pod went away: ask for the ready ones again


def deployment_replicas(k: Kubectl, name: str) -> tuple[int, int]:
    deployment = k.get_json("deployment", name)
    return deployment["spec"].get("replicas", 0), (deployment.get("status") or {}).get("readyReplicas", 0)


def test_the_autoscaler_scales_production_up_under_load_and_down_after_and_goes_when_switched_off(k: Kubectl):
    run = training_run("autoscaled", "iris", estimator="sklearn.linear_model.LogisticRegression")
    run["spec"]["modelVersionTemplate"] = {"serving": SERVING, "rollout": {"strategy": "Immediate"}}
    k.apply(run)
    finished = wait_for_condition(k, "trainingrun", "autoscaled", "Succeeded")
    assert condition(finished, "Succeeded")["status"] == "True", condition(finished, "Succeeded")
    version = finished["status"]["modelVersion"]
    wait_for(
        lambda: (k.get_json("modelversion", version).get("status") or {}).get("stage") == "Production",
        timeout=180,
        message=f"{version} in Production",
    )
    deployment = f"{version}-serve"

    hpa = wait_for(
        lambda: (
            k.run("get", "hpa", deployment, "-o", "json", check=False).returncode == 0 and k.get_json("hpa", deployment)
        ),
        timeout=60,
        message="the operator's HorizontalPodAutoscaler",
    )
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, MAX_REPLICAS)
    assert hpa["metadata"]["ownerReferences"][0]["name"] == version
    # the metrics API answers for the pod: the autoscaler can see its CPU
    wait_for(
        lambda: (k.get_json("hpa", deployment).get("status") or {}).get("currentMetrics"),
        timeout=120,
        message="the autoscaler reading the pods' CPU from metrics-server",
    )

    stop, answered = threading.Event(), []
    clients = [threading.Thread(target=hammer, args=(k, stop, answered), daemon=True) for _ in range(2)]
    for client in clients:
        client.start()
    try:
        wait_for(
            lambda: deployment_replicas(k, deployment)[1] >= 2,
            timeout=300,
            interval=2,
            message="the Deployment scaled up under load",
        )

        # The operator reconciles the version on its Deployment's new ready count (its status
        # follows it): that reconcile, and any after, must leave the autoscaler's replicas alone.
        def reconciled_after_scale_up():
            wanted, ready = deployment_replicas(k, deployment)
            status = k.get_json("modelversion", version).get("status") or {}
            return ready >= 2 and status.get("readyReplicas") == ready and wanted

        scaled = wait_for(reconciled_after_scale_up, timeout=120, message="a reconcile after the scale-up")
        assert scaled >= 2
        assert deployment_replicas(k, deployment)[0] >= 2
        managers = {
            entry["manager"]
            for entry in k.get_json("deployment", deployment, "--show-managed-fields")["metadata"]["managedFields"]
            if "f:replicas" in (entry.get("fieldsV1") or {}).get("f:spec", {})
        }
        assert "ballast" not in managers, managers
    finally:
        stop.set()
        for client in clients:
            client.join(timeout=30)
    assert answered

    wait_for(
        lambda: deployment_replicas(k, deployment) == (1, 1),
        timeout=300,
        interval=2,
        message="the Deployment scaled back down once the load stopped",
    )

    # Switched off: the autoscaler goes, and the spec's replicas are the operator's again.
    k.run(
        "patch",
        "modelversion",
        version,
        "--type=json",
        "-p",
        '[{"op": "remove", "path": "/spec/serving/autoscaling"}, '
        '{"op": "replace", "path": "/spec/serving/replicas", "value": 2}]',
    )
    wait_for(
        lambda: k.run("get", "hpa", deployment, check=False).returncode != 0,
        timeout=60,
        message="the autoscaler removed",
    )
    wait_for(
        lambda: deployment_replicas(k, deployment) == (2, 2),
        timeout=120,
        interval=1,
        message="the spec's two replicas",
    )


def test_the_api_server_refuses_min_above_max_naming_the_field(k: Kubectl):
    run = training_run("backwards", "iris", estimator="sklearn.linear_model.LogisticRegression")
    serving = {**SERVING, "autoscaling": {**AUTOSCALING, "minReplicas": 3, "maxReplicas": 2}}
    run["spec"]["modelVersionTemplate"] = {"serving": serving}
    refused = k.apply(run, check=False)
    assert refused.returncode != 0
    assert "autoscaling.minReplicas must not exceed autoscaling.maxReplicas" in refused.stderr
    assert "minReplicas" in refused.stderr
