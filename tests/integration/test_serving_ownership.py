"""Issue 12 on the real local cluster: a Service of the model's name that is not Ballast's is
never taken over nor deleted (row 9); each serving version gets its NetworkPolicy, owned by it
and applied again when deleted by hand, and its namespace the feedback token Secret its pods
mount (row 6, the operator's side; the local bridge CNI does not enforce NetworkPolicies, so
only their content and owner are seen)."""

from __future__ import annotations

import time

import pytest

from tests.integration.test_network_policies import comes_back_after_deletion
from tests.support.ballast_objects import (
    condition,
    training_run,
    wait_for_condition,
    with_ready_iris_dataset,
)
from tests.support.kube import Kubectl, wait_for


def serve_run(name: str) -> dict:
    run = training_run(name, "iris", estimator="sklearn.linear_model.LogisticRegression", params={"max_iter": 300})
    run["spec"]["modelVersionTemplate"] = {"serving": {"replicas": 1}, "rollout": {"strategy": "Immediate"}}
    return run


@pytest.fixture
def k(kubectl: Kubectl, namespace: str, ballast_operator) -> Kubectl:
    """The test's namespace, with the iris Dataset ingested and valid."""
    return with_ready_iris_dataset(kubectl, namespace)


FOREIGN = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "iris", "labels": {"app": "someone-elses"}},
    "spec": {"selector": {"app": "someone-elses"}, "ports": [{"port": 5432, "targetPort": 5432}]},
}


def test_a_foreign_service_of_the_models_name_is_neither_taken_over_nor_deleted(k: Kubectl):
    k.apply(FOREIGN)
    before = k.get_json("service", "iris")
    k.apply(serve_run("served"))
    name = wait_for_condition(k, "trainingrun", "served", "Succeeded")["status"]["modelVersion"]

    def conflicted() -> dict | None:
        version = k.get_json("modelversion", name)
        found = condition(version, "ServiceConflict")
        return version if found and found.get("status") == "True" else None

    version = wait_for(conflicted, timeout=120, interval=1, message="ServiceConflict on the version")
    assert condition(version, "ServiceConflict")["reason"] == "ServiceConflict"
    # the Deployment still rolls out
    wait_for(
        lambda: (k.get_json("modelversion", name).get("status") or {}).get("stage") == "Production",
        timeout=180,
        interval=1,
        message=f"{name} in Production",
    )
    events = k.get_json("events", "--field-selector", f"involvedObject.name={name},reason=ServiceConflict")["items"]
    assert [e["type"] for e in events] == ["Warning"], events
    after = k.get_json("service", "iris")
    assert after["metadata"].get("ownerReferences") is None
    assert (after["spec"]["selector"], after["metadata"]["labels"]) == (
        before["spec"]["selector"],
        before["metadata"]["labels"],
    )

    k.run("delete", "modelversion", name, "--wait=true")
    time.sleep(3)  # the garbage collector would have acted by now
    assert k.get_json("service", "iris")["metadata"]["uid"] == before["metadata"]["uid"]


def test_a_served_version_has_its_network_policy_and_its_namespace_the_feedback_token(k: Kubectl):
    k.apply(serve_run("served"))
    name = wait_for_condition(k, "trainingrun", "served", "Succeeded")["status"]["modelVersion"]
    version = wait_for(
        lambda: (lambda v: v if (v.get("status") or {}).get("stage") == "Production" else None)(
            k.get_json("modelversion", name)
        ),
        timeout=180,
        interval=1,
        message=f"{name} in Production",
    )

    policy = k.get_json("networkpolicy", f"{name}-serve")
    assert [o["uid"] for o in policy["metadata"]["ownerReferences"]] == [version["metadata"]["uid"]]
    assert policy["spec"]["podSelector"]["matchLabels"]["ballast.dev/model-version"] == name
    assert policy["spec"]["ingress"][0]["from"]  # never empty: that would admit everyone
    # deleted by hand: applied again at once, not with the Deployment's next change
    again, seconds = comes_back_after_deletion(k, f"{name}-serve")
    assert again["spec"] == policy["spec"]
    print(f"\nserving NetworkPolicy applied again {seconds:.1f} s after its deletion")

    secret = k.get_json("secret", "ballast-feedback")
    assert set(secret["data"]) == {"token"}
    assert secret["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "ballast"
    # a rotated token is never written over, though the Deployment (and so the Secret's
    # creation) is applied again
    k.run("patch", "secret", "ballast-feedback", "--type=merge", "-p", '{"stringData": {"token": "rotated"}}')
    original = k.get_json("deployment", f"{name}-serve")["metadata"]["uid"]
    k.run("delete", "deployment", f"{name}-serve", "--wait=true")
    wait_for(
        lambda: (
            k.run("get", "deployment", f"{name}-serve", "-o", "jsonpath={.metadata.uid}", check=False).stdout.strip()
            not in ("", original)
        ),
        timeout=60,
        interval=0.5,
        message="the Deployment applied again",
    )
    assert k.get_json("secret", "ballast-feedback")["data"]["token"] == "cm90YXRlZA=="
