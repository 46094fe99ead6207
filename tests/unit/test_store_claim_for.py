"""The store's claim is ensured before any child whose pods mount it: a namespace whose first
Ballast pod is a serving one (a ModelVersion registered by hand, no Job ever) gets it too."""

from __future__ import annotations

from ballast.build.claims import mounts_store_claim, store_claim_for
from ballast.build.serving import build_serving_deployment
from ballast.settings import Settings
from tests.unit.test_reconcile_serving import version

FILE_STORE = Settings(store_uri="file:///var/lib/ballast", store_storage_class="shared")
OBJECT_STORE = Settings(store_uri="s3://bucket/ballast")


def test_a_serving_deployment_alone_brings_the_claim():
    deployment = build_serving_deployment(version(), replicas=1, settings=FILE_STORE)
    assert mounts_store_claim(deployment, FILE_STORE)
    claim = store_claim_for("team-a", [deployment], FILE_STORE)
    assert claim["metadata"] == {
        "name": "ballast-artifacts",
        "namespace": "team-a",
        "labels": claim["metadata"]["labels"],
    }
    assert claim["spec"]["storageClassName"] == "shared"


def test_nothing_that_mounts_it_brings_no_claim():
    assert store_claim_for("team-a", [], FILE_STORE) is None
    service = {"apiVersion": "v1", "kind": "Service", "spec": {"selector": {}}}
    assert store_claim_for("team-a", [service], FILE_STORE) is None
    # an object store is not mounted: no claim
    assert (
        store_claim_for(
            "team-a", [build_serving_deployment(version(), replicas=1, settings=OBJECT_STORE)], OBJECT_STORE
        )
        is None
    )
