"""Faults in the pods Ballast starts: a trainer that crashes, one that hangs past its
deadline, one whose pod is deleted mid-run; serving pods deleted while a canary runs; the
node's kubelet and containerd restarted under running pods. Each ends in a condition with a reason, and the
loop goes on.

tests/integration covers a trainer refused for its spec (InvalidEstimator) and the operator
killed while a Job runs; the faults here are the pods' own.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator

import pytest

from tests.faults.environment import FaultEnvironment
from tests.support.ballast_objects import condition, dataset, iris_rows, training_run, wait_for_condition
from tests.support.faults import restart_node
from tests.support.image import ballast_image
from tests.support.kube import Kubectl, shared_store_dir, wait_for
from tests.support.traffic import Traffic, ready_endpoints

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


@pytest.fixture(scope="module")
def k(kubectl: Kubectl, kubeconfig, crds, tmp_path_factory) -> Iterator[Kubectl]:
    """One namespace for this module's tests, its own operator, and the iris Dataset, valid."""
    environment = FaultEnvironment(kubectl, kubeconfig, tmp_path_factory.mktemp("pod-faults"))
    try:
        namespace = environment.namespace("pods")
        # The faults are staged by trainers with a command of their own: an administrator's choice.
        repository = ballast_image().split("@", 1)[0]
        environment.operator(
            "pods",
            (namespace,),
            store_dir=shared_store_dir(),
            env={"BALLAST_CUSTOM_IMAGES_ENABLED": "true", "BALLAST_CUSTOM_IMAGE_PREFIXES": json.dumps([repository])},
        )
        k = kubectl.in_namespace(namespace)
        k.apply(dataset("iris", {"inline": {"rows": iris_rows()}}))
        assert condition(wait_for_condition(k, "dataset", "iris", "Ready", timeout=180), "Ready")["status"] == "True"
        yield k
    finally:
        environment.close()


def custom_trainer(
    name: str, command: list[str], *, backoff_limit: int, deadline: int = 300, model: str = "iris-faults", **options
) -> dict:
    """A run whose pod runs `command` instead of Ballast's trainer (a custom image's way)."""
    run = training_run(name, "iris", model=model, **options)
    run["spec"].update(
        image=ballast_image(), command=command, backoffLimit=backoff_limit, activeDeadlineSeconds=deadline
    )
    return run


def served(run: dict, rollout: dict) -> dict:
    run["spec"]["modelVersionTemplate"] = {"serving": {"replicas": 1}, "rollout": rollout}
    return run


def pods_of_job(k: Kubectl, job: str) -> list[dict]:
    return k.get_json("pods", "-l", f"batch.kubernetes.io/job-name={job}")["items"]


def running_pod(k: Kubectl, job: str) -> dict:
    return wait_for(
        lambda: next((p for p in pods_of_job(k, job) if p["status"].get("phase") == "Running"), None),
        timeout=120,
        message=f"a running pod of {job}",
    )


def stage(k: Kubectl, name: str) -> str | None:
    return (k.get_json("modelversion", name).get("status") or {}).get("stage")


def test_training_pods_that_crash_hang_or_are_deleted_end_with_a_reason_and_the_loop_goes_on(k: Kubectl, report):
    k.apply(
        custom_trainer(
            "crashes",
            ["python3", "-c", "import sys; print('fault: the trainer crashed', file=sys.stderr); sys.exit(1)"],
            backoff_limit=0,
        )
    )
    k.apply(custom_trainer("hangs", ["python3", "-c", "import time; time.sleep(600)"], backoff_limit=0, deadline=5))
    # a real training, late enough to be deleted while it runs
    # (as the trainer itself does, it stops on the SIGTERM its deletion sends; sh as PID 1 would not)
    k.apply(
        custom_trainer(
            "deleted", ["sh", "-c", "trap 'exit 143' TERM; sleep 3 & wait; exec ballast train"], backoff_limit=1
        )
    )
    victim = running_pod(k, "deleted-train")
    k.run("delete", "pod", victim["metadata"]["name"], "--wait=false")
    began = time.monotonic()

    crashed = condition(wait_for_condition(k, "trainingrun", "crashes", "Succeeded", timeout=120), "Succeeded")
    assert (crashed["status"], crashed["reason"]) == ("False", "TrainingFailed"), crashed
    assert "the trainer crashed" in crashed["message"], crashed

    hung = condition(wait_for_condition(k, "trainingrun", "hangs", "Succeeded", timeout=120), "Succeeded")
    assert (hung["status"], hung["reason"]) == ("False", "DeadlineExceeded"), hung
    wait_for(
        lambda: all(p["status"].get("phase") in ("Failed", "Succeeded") for p in pods_of_job(k, "hangs-train")),
        timeout=60,
        message="the hung trainer's pod stopped",
    )

    recovered = wait_for_condition(k, "trainingrun", "deleted", "Succeeded", timeout=180)
    assert condition(recovered, "Succeeded")["status"] == "True", condition(recovered, "Succeeded")
    recovered_seconds = time.monotonic() - began
    job = k.get_json("job", "deleted-train")
    assert job["status"].get("succeeded") == 1
    wait_for(
        lambda: victim["metadata"]["uid"] not in {p["metadata"]["uid"] for p in pods_of_job(k, "deleted-train")},
        timeout=60,
        message="the deleted pod gone",
    )
    # one Job per run, and only the run that trained registered a version
    for run in ("crashes", "hangs", "deleted"):
        assert len(k.get_json("jobs", "-l", f"app.kubernetes.io/instance={run}")["items"]) == 1, run
    versions = k.get_json("modelversions", "-l", "ballast.dev/model=iris-faults")["items"]
    assert [v["metadata"]["name"] for v in versions] == [recovered["status"]["modelVersion"]]
    report(
        f"training pods: crash -> TrainingFailed, hang -> DeadlineExceeded, deleted pod -> retried and "
        f"Trained {recovered_seconds:.0f} s after the delete (Job failed={job['status'].get('failed', 0)})"
    )


def test_serving_pods_deleted_during_a_canary_are_replaced_and_production_stays(k: Kubectl, report):
    k.apply(
        served(
            training_run("base", "iris", estimator="sklearn.tree.DecisionTreeClassifier", params={"max_depth": 2}),
            {"strategy": "Immediate"},
        )
    )
    base = wait_for_condition(k, "trainingrun", "base", "Succeeded")["status"]["modelVersion"]
    wait_for(lambda: stage(k, base) == "Production", timeout=120, interval=1, message=f"{base} in Production")
    k.apply(
        served(
            training_run(
                "candidate", "iris", estimator="sklearn.ensemble.RandomForestClassifier", params={"n_estimators": 20}
            ),
            {"strategy": "Canary", "steps": [50], "analysisInterval": "2s"},
        )
    )
    candidate = wait_for_condition(k, "trainingrun", "candidate", "Succeeded")["status"]["modelVersion"]
    wait_for(
        lambda: stage(k, candidate) == "Canary" and len(ready_endpoints(k, "iris")) == 2,
        timeout=120,
        interval=1,
        message=f"{candidate} as a ready canary",
    )

    serving = k.get_json("pods", "-l", "app.kubernetes.io/component=serving")["items"]
    assert len(serving) == 2
    k.run("delete", "pods", *[p["metadata"]["name"] for p in serving], "--wait=false")
    began = time.monotonic()
    stages = set()

    def replaced() -> bool:
        stages.add((stage(k, base), stage(k, candidate)))
        pods = k.get_json("pods", "-l", "app.kubernetes.io/component=serving")["items"]
        new = {p["metadata"]["uid"] for p in pods} - {p["metadata"]["uid"] for p in serving}
        return len(new) == 2 and len(ready_endpoints(k, "iris")) == 2

    wait_for(replaced, timeout=120, interval=0.5, message="both serving pods replaced and ready")
    replaced_seconds = time.monotonic() - began
    assert stages == {("Production", "Canary")}, f"stages seen while the pods were replaced: {stages}"

    # the canary goes on with the replaced pods' fresh counters, and wins
    rows = iris_rows()
    with Traffic(k, "iris", "iris", FEATURES, "species", rows=lambda: [random.choice(rows)]) as traffic:
        wait_for(
            lambda: stage(k, candidate) == "Production",
            timeout=120,
            interval=1,
            message=f"{candidate} promoted after the pods were replaced",
        )
    wait_for(lambda: stage(k, base) == "Superseded", timeout=60, interval=1, message=f"{base} superseded")
    assert traffic.answered > 20
    report(
        f"serving: both pods deleted mid-canary, replaced and ready in {replaced_seconds:.1f} s; Production "
        f"stayed Production, the canary stayed Canary and was promoted on the new pods' counters "
        f"({traffic.answered} requests after the replacement, {len(traffic.failures)} failed)"
    )


def test_a_kubelet_and_containerd_restart_leaves_a_served_model_and_a_running_trainer_running(k: Kubectl, report):
    """As when a node's runtime is upgraded or crashes: the containers live on under their shims,
    the new kubelet takes them back, and nothing Ballast started notices."""
    k.apply(served(training_run("served", "iris", model="iris-node"), {"strategy": "Immediate"}))
    version = wait_for_condition(k, "trainingrun", "served", "Succeeded")["status"]["modelVersion"]
    wait_for(lambda: stage(k, version) == "Production", timeout=120, interval=1, message=f"{version} in Production")
    wait_for(lambda: ready_endpoints(k, "iris-node"), timeout=60, message="a ready endpoint")
    [server] = k.get_json("pods", "-l", f"ballast.dev/model-version={version}")["items"]
    k.apply(
        custom_trainer(
            "in-flight",
            ["sh", "-c", "sleep 8 && exec ballast train"],
            backoff_limit=1,
            model="iris-node",
            params={"C": 0.5},
        )
    )
    trainer = running_pod(k, "in-flight-train")

    rows = iris_rows()
    # straight to the pod: while the kubelet is away nobody updates its readiness either way
    with Traffic(
        k,
        "iris-node",
        "iris-node",
        FEATURES,
        "species",
        rows=lambda: [random.choice(rows)],
        endpoints=lambda: [f"{server['status']['podIP']}:8080"],
    ) as traffic:
        restart_seconds = restart_node()
        wait_for(lambda: ready_endpoints(k, "iris-node"), timeout=60, message="the endpoint ready again")
    assert traffic.failures == [], traffic.failures[:5]
    assert traffic.answered > 10

    [after] = k.get_json("pods", "-l", f"ballast.dev/model-version={version}")["items"]
    assert after["metadata"]["uid"] == server["metadata"]["uid"]
    assert [s["restartCount"] for s in after["status"]["containerStatuses"]] == [0]
    assert stage(k, version) == "Production"
    # a new kubelet probes readiness afresh: the version may be unready for that moment
    wait_for(
        lambda: condition(k.get_json("modelversion", version), "Ready").get("status") == "True",
        timeout=60,
        interval=1,
        message=f"{version} Ready again",
    )
    trained = wait_for_condition(k, "trainingrun", "in-flight", "Succeeded", timeout=180)
    assert condition(trained, "Succeeded")["status"] == "True", condition(trained, "Succeeded")
    job = k.get_json("job", "in-flight-train")["status"]
    assert (job.get("failed", 0), [p["metadata"]["uid"] for p in pods_of_job(k, "in-flight-train")]) == (
        0,
        [trainer["metadata"]["uid"]],
    ), "the restart interrupted the trainer"
    # and a new run after the restart goes all the way
    k.apply(training_run("after", "iris", model="iris-node", params={"C": 2.0}))
    after_run = wait_for_condition(k, "trainingrun", "after", "Succeeded", timeout=180)
    assert condition(after_run, "Succeeded")["status"] == "True", condition(after_run, "Succeeded")
    report(
        f"node: kubelet and containerd restarted in {restart_seconds:.1f} s under a served model "
        f"({traffic.answered} requests, none failed) and a running trainer (not interrupted, Trained); "
        "a new run Trained"
    )
