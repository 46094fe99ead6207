"""One served model per tenant, for every attack of the suite (conftest.py `served`).

The victim's `iris`, with a DriftPolicy that scrapes its pods every 2 s (its signal), and the
attacker's `payments`, named after a Service the platform team runs in the attacker's namespace
(row 9), which also gives the attacker's DriftPolicies a Production version to read for (row 1)
and its pods serving labels to copy (row 10). `victim_state` is what must be the same after
every attack as before the first (test_hostile_tenant.py's last test).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tests.support.ballast_objects import condition, dataset, iris_rows, training_run, wait_for_condition
from tests.support.kube import Kubectl, shared_store_dir, wait_for

if TYPE_CHECKING:
    from tests.security.conftest import Tenants

SERVE_TIMEOUT = 240
FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")
VERSION_LABEL = "ballast.dev/model-version"
PLATFORM_SERVICE = {  # the platform team's, in the attacker's namespace; tenants cannot create Services
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "payments", "labels": {"app": "payments", "team": "platform"}},
    "spec": {"selector": {"app": "payments-db"}, "ports": [{"port": 5432, "targetPort": 5432}]},
}


def served_run(name: str, model: str) -> dict:
    run = training_run(name, "iris", model=model, params={"max_iter": 300})
    run["spec"]["modelVersionTemplate"] = {"serving": {"replicas": 1}, "rollout": {"strategy": "Immediate"}}
    return run


def drift_policy(name: str, model: str, prometheus_url: str | None = None) -> dict:
    spec = {"model": model, "interval": "2s", "window": {"minSamples": 1}, "action": {"type": "notify"}}
    if prometheus_url:
        spec["source"] = {"prometheusUrl": prometheus_url}
    return {"apiVersion": "ballast.dev/v1alpha1", "kind": "DriftPolicy", "metadata": {"name": name}, "spec": spec}


def tree_digest(root: Path) -> dict[str, str]:
    """Every file under root, by relative path, with its sha256: what "unchanged" means for a store."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def production(admin: Kubectl, name: str) -> dict:
    def ready():
        version = admin.get_json("modelversion", name)
        return version if (version.get("status") or {}).get("stage") == "Production" else None

    return wait_for(ready, timeout=SERVE_TIMEOUT, interval=1, message=f"{name} in Production")


def last_evaluation(admin: Kubectl, policy: str) -> str | None:
    return (admin.get_json("driftpolicy", policy).get("status") or {}).get("lastEvaluationTime")


@dataclass(frozen=True)
class Served:
    victim: Kubectl
    attacker: Kubectl
    """Both the admin's, each in its tenant's namespace: for reading what tenants cannot (pods, Jobs)."""
    victim_version: str
    attacker_version: str
    attacker_training_job: dict
    victim_before: dict


def victim_state(victim: Kubectl, version: str) -> dict:
    """What must not change: the victim's objects' specs and results, its Service, its store prefix."""
    store = shared_store_dir() / victim.namespace
    model_version = victim.get_json("modelversion", version)
    return {
        "dataset": victim.get_json("dataset", "iris")["status"]["latestVersion"],
        "modelVersion": {
            "uid": model_version["metadata"]["uid"],
            "spec": model_version["spec"],
            "stage": model_version["status"]["stage"],
        },
        "service": (lambda service: (service["metadata"]["uid"], service["spec"]["selector"]))(
            victim.get_json("service", "iris")
        ),
        "store": tree_digest(store),
    }


def serve_both(kubectl: Kubectl, tenants: Tenants) -> Served:
    """Train and serve each tenant's model, as the tenant; the victim's policy evaluating."""
    victim = kubectl.in_namespace(tenants.victim.namespace)
    attacker = kubectl.in_namespace(tenants.attacker.namespace)
    attacker.apply(PLATFORM_SERVICE)
    for tenant in (tenants.victim, tenants.attacker):
        tenant.client.apply(dataset("iris", {"inline": {"rows": iris_rows()}}))
    tenants.victim.client.apply(served_run("iris-1", "iris"))
    tenants.attacker.client.apply(served_run("payments-1", "payments"))

    # The attacker's training pod, caught while its Job exists (finished Jobs are removed).
    def training_job():
        jobs = attacker.get_json("jobs", "-l", "app.kubernetes.io/component=training")["items"]
        return jobs[0] if jobs else None

    job = wait_for(training_job, timeout=SERVE_TIMEOUT, interval=0.5, message="the attacker's training Job")
    names = {}
    for k, run in ((victim, "iris-1"), (attacker, "payments-1")):
        document = wait_for_condition(k, "trainingrun", run, "Succeeded", timeout=SERVE_TIMEOUT)
        assert condition(document, "Succeeded")["status"] == "True", document["status"]
        names[run] = document["status"]["modelVersion"]
    production(victim, names["iris-1"])
    production(attacker, names["payments-1"])
    tenants.victim.client.apply(drift_policy("watch", "iris"))
    wait_for(lambda: last_evaluation(victim, "watch"), timeout=60, message="the victim's policy evaluating")
    return Served(victim, attacker, names["iris-1"], names["payments-1"], job, victim_state(victim, names["iris-1"]))


def serving_pods(admin: Kubectl, version: str) -> list[dict]:
    return admin.get_json("pods", "-l", f"{VERSION_LABEL}={version}")["items"]


def victim_pod_address(served: Served) -> str:
    pods = serving_pods(served.victim, served.victim_version)
    ready = [pod["status"]["podIP"] for pod in pods if condition(pod, "Ready").get("status") == "True"]
    assert ready, "the victim's serving pod"
    return f"{ready[0]}:8080"


def served_restarts(served: Served) -> int:
    return sum(
        status["restartCount"]
        for pod in serving_pods(served.victim, served.victim_version)
        for status in pod["status"].get("containerStatuses", [])
    )
