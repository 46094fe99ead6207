"""Issue 12, rows 4 and 7, as the impersonated attacker: ModelVersions that name artifacts made
to exhaust the operator, to crash the model server, or that belong to the victim.

The attacker's role cannot write to the store (no pods, no custom images, no `pvc` source), so
the test writes the files into the attacker's own part of the store as the admin, as a tenant
with store write access would (through a labelled pvc source, or its own pods on a cluster
that allows them); the attacker then registers them, each with its right sha256, so that a
refusal is the content's fault and not the digest's. Each version ends with the reason on its
Ready condition, never in Production, and the suite's operator stays within a bound of memory
over all of it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier

from ballast.models.skops_format import serialize_model
from ballast.store.limits import DEFAULT_MAX_ARTIFACT_BYTES
from tests.security.conftest import Tenants
from tests.security.served import Served, serving_pods
from tests.support.ballast_objects import condition
from tests.support.kube import shared_store_dir, wait_for
from tests.support.operator_process import OperatorProcess
from tests.support.planted_models import model_version, plant, plant_sparse
from tests.unit.test_artifact_bounds import empty_lists_schema, zip_of
from tests.unit.test_models_tree_structure import _edit_first_array, _is_tree_nodes, _set_child_out_of_range

MODEL = "planted"
FOREST = "forest"
"""The tampered forest's model: served (replicas 1, Immediate), so its pod loads it."""
OPERATOR_RSS_BOUND = 300 << 20
"""The operator of two namespaces runs at about a third of this; reading any of these artifacts
whole (the sparse one is 2 GiB, the bomb's schema.json 24 MB that json.loads makes ~500 MiB of)
would pass it."""
REFUSED_EXIT_CODE = 2
"""`ballast serve` refusing its model (ballast.runtime.serve); a segfault would be 139."""
FOREST_TIMEOUT = 180


@dataclass(frozen=True)
class Planted:
    reasons: dict[str, str]
    """ModelVersion name -> the reason its Ready condition must end with."""


def tampered_forest() -> bytes:
    """A real forest's archive with one tree's child index pointed far outside its node array."""
    x, y = load_iris(return_X_y=True)
    forest = serialize_model(RandomForestClassifier(n_estimators=3, random_state=0).fit(x, y))
    return _edit_first_array(forest.data, _is_tree_nodes, _set_child_out_of_range)


@pytest.fixture(scope="module")
def planted(served: Served, tenants: Tenants) -> Iterator[Planted]:
    namespace = tenants.attacker.namespace
    victim_artifact = served.victim.get_json("modelversion", served.victim_version)["spec"]["artifact"]
    versions = {
        "oversize": (plant_sparse(namespace, MODEL, "oversize", DEFAULT_MAX_ARTIFACT_BYTES + 1), "ArtifactTooLarge"),
        "schema-bomb": (
            plant(namespace, MODEL, "schema-bomb", zip_of({"schema.json": empty_lists_schema(8_000_000)})),
            "UnsafeArchive",
        ),
        "borrowed": ((victim_artifact["uri"], victim_artifact["sha256"]), "ArtifactOutsideStore"),
    }
    forest_uri, forest_sha = plant(namespace, FOREST, "tampered", tampered_forest())
    forest = model_version("tampered-forest", FOREST, forest_uri, forest_sha)
    forest["spec"].update(serving={"replicas": 1}, rollout={"strategy": "Immediate"})
    tenants.attacker.client.apply(forest)  # first: its pod takes the longest
    for name, ((uri, sha256), _) in versions.items():
        tenants.attacker.client.apply(model_version(name, MODEL, uri, sha256))
    yield Planted(
        {name: reason for name, (_, reason) in versions.items()} | {"tampered-forest": "InvalidModelStructure"}
    )
    tenants.attacker.client.run(
        "delete", "modelversion", "tampered-forest", *versions, "--wait=true", "--timeout=60s", check=False, timeout=90
    )
    for model in (MODEL, FOREST):
        shutil.rmtree(shared_store_dir() / namespace / "models" / model, ignore_errors=True)


def ready_reason(served: Served, name: str) -> str | None:
    ready = condition(served.attacker.get_json("modelversion", name), "Ready")
    return ready.get("reason") if ready.get("status") == "False" else None


def test_row4_oversize_bombed_and_borrowed_artifacts_are_conditions_and_the_operator_stays_small(
    served: Served, planted: Planted, tenant_operator: OperatorProcess
):
    for name, reason in planted.reasons.items():
        if name == "tampered-forest":
            continue
        wait_for(lambda: ready_reason(served, name) == reason, timeout=60, message=f"{name}: Ready False, {reason}")
        document = served.attacker.get_json("modelversion", name)
        assert condition(document, "ArtifactVerified")["status"] == "False", document["status"]
        assert document["status"].get("stage") != "Production", document["status"]
    deployments = {d["metadata"]["name"] for d in served.attacker.get_json("deployments")["items"]}
    assert not [name for name in deployments if name.startswith(("oversize", "schema-bomb", "borrowed"))], deployments
    memory = tenant_operator.resident_memory()
    print(f"the operator after the oversize, bombed and borrowed artifacts: {memory}")
    assert memory.peak_bytes < OPERATOR_RSS_BOUND, memory


def test_row7_a_tampered_forest_is_refused_by_its_server_and_never_serves(served: Served, planted: Planted):
    wait_for(
        lambda: ready_reason(served, "tampered-forest") == "InvalidModelStructure",
        timeout=FOREST_TIMEOUT,
        message="tampered-forest: Ready False, InvalidModelStructure",
    )
    document = served.attacker.get_json("modelversion", "tampered-forest")
    assert "refused the model at start-up" in condition(document, "Ready")["message"]
    assert condition(document, "ArtifactVerified")["status"] == "True"  # the operator checks types, not trees
    assert document["status"].get("stage") != "Production", document["status"]
    # the server refused it, each time it started: exit 2 with the reason, never a crash
    ends = [
        state["terminated"]
        for pod in serving_pods(served.attacker, "tampered-forest")
        for container in pod["status"].get("containerStatuses", [])
        for state in (container.get("state") or {}, container.get("lastState") or {})
        if "terminated" in state
    ]
    assert ends, "the forest's server never ended"
    assert all(
        end["exitCode"] == REFUSED_EXIT_CODE and "InvalidModelStructure" in end.get("message", "") for end in ends
    ), ends
    pods = serving_pods(served.attacker, "tampered-forest")
    assert not [pod for pod in pods if condition(pod, "Ready").get("status") == "True"], "a Ready forest pod"
