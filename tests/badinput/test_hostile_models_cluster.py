"""Issue 12, rows 4 and 7 on the real cluster: artifacts made to exhaust the operator, and a
forest with an edited tree, registered by a tenant as ModelVersions.

The zip bomb must become a condition on its one ModelVersion while the operator stays up (its
log clean, its other versions verified); the tampered forest passes the operator's type check
(the operator never builds models) but its serving pod refuses it with InvalidModelStructure,
so the version is never Ready and never takes traffic: Ready False with that reason, and a
Warning Event. The namespace never ran a Job, so the serving pod's store claim is the operator's
doing too.
"""

from __future__ import annotations

import json
import time

import pytest
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier

from ballast.build.serving import VERSION_LABEL
from ballast.models.skops_format import serialize_model
from tests.badinput.test_hostile_cluster import assert_refused
from tests.support.ballast_objects import condition, wait_for_condition
from tests.support.kube import Kubectl, wait_for
from tests.support.planted_models import model_version, plant
from tests.unit.test_artifact_bounds import empty_lists_schema, zip_of
from tests.unit.test_models_tree_structure import _edit_first_array, _is_tree_nodes, _set_child_out_of_range


@pytest.fixture
def k(kubectl: Kubectl, namespace: str, operator_for_badinput) -> Kubectl:
    return kubectl.in_namespace(namespace)


def _termination_messages(k: Kubectl, version: str) -> list[str]:
    pods = k.get_json("pods", "-l", f"{VERSION_LABEL}={version}")["items"]
    messages = []
    for pod in pods:
        for container in (pod.get("status") or {}).get("containerStatuses") or []:
            for state in (container.get("state") or {}, container.get("lastState") or {}):
                messages.append(((state.get("terminated") or {}).get("message")) or "")
    return [m for m in messages if m]


def test_a_zip_bomb_is_a_condition_and_a_tampered_forest_never_serves(k: Kubectl, namespace: str):
    model = f"hostile-{namespace}"
    x, y = load_iris(return_X_y=True)
    forest = serialize_model(RandomForestClassifier(n_estimators=3, random_state=0).fit(x, y))
    good_uri, good_sha = plant(namespace, model, "good", forest.data)
    bomb_uri, bomb_sha = plant(namespace, model, "bomb", zip_of({"schema.json": empty_lists_schema(8_000_000)}))
    tampered_uri, tampered_sha = plant(
        namespace, model, "tampered", _edit_first_array(forest.data, _is_tree_nodes, _set_child_out_of_range)
    )

    k.apply(model_version("bomb", model, bomb_uri, bomb_sha))
    k.apply(model_version("good", model, good_uri, good_sha))
    document = assert_refused(k, "modelversion", "ModelVersion", "bomb", "UnsafeArchive", timeout=60)
    assert condition(document, "ArtifactVerified")["status"] == "False"
    assert (
        condition(wait_for_condition(k, "modelversion", "good", "ArtifactVerified", timeout=60), "ArtifactVerified")[
            "status"
        ]
        == "True"
    )

    # no Job ever ran here: the operator makes the store's claim along with the Deployment
    tampered = model_version("tampered", model, tampered_uri, tampered_sha)
    tampered["spec"].update(serving={"replicas": 1}, rollout={"strategy": "Immediate"})
    k.apply(tampered)
    # the operator only checks types, so it verifies the file and starts a serving pod ...
    assert (
        condition(
            wait_for_condition(k, "modelversion", "tampered", "ArtifactVerified", timeout=60), "ArtifactVerified"
        )["status"]
        == "True"
    )
    # ... which refuses the model with the reason, never listens, so the version is never Ready
    try:
        refused = wait_for(
            lambda: [m for m in _termination_messages(k, "tampered") if "InvalidModelStructure" in m],
            timeout=180,
            message="the serving pod's refusal",
        )
    except AssertionError as error:
        pods = [
            (p["metadata"]["name"], p.get("status"))
            for p in k.get_json("pods", "-l", f"{VERSION_LABEL}=tampered")["items"]
        ]
        raise AssertionError(
            f"{error}; status {json.dumps(k.get_json('modelversion', 'tampered').get('status'))}"
            f"; pods {json.dumps(pods)[:3000]}"
        ) from None
    assert "altered after training" in json.dumps(refused)
    # the server's reason becomes the version's: Ready False and a Warning, not Deploying forever
    document = assert_refused(k, "modelversion", "ModelVersion", "tampered", "InvalidModelStructure", timeout=60)
    assert "refused the model at start-up" in condition(document, "Ready")["message"]
    watched_until = time.monotonic() + 10
    while time.monotonic() < watched_until:
        ready = condition(k.get_json("modelversion", "tampered"), "Ready") or {}
        assert ready.get("status") != "True", ready
        time.sleep(1)
    assert (
        k.get_json("pvc", "ballast-artifacts")["metadata"]["labels"]["app.kubernetes.io/component"] == "artifact-store"
    )
