"""Ballast's NetworkPolicies deleted by hand come back while their owner exists
(ballast.reconcile.network_policy_restore), built as the owner's reconcile would build them."""

from __future__ import annotations

from ballast.build.ingest_network_policy import build_ingest_network_policy
from ballast.build.serving_network_policy import build_serving_network_policy
from ballast.reconcile.network_policy_restore import restored_network_policy
from ballast.settings import Settings

SETTINGS = Settings(operator_namespace="ballast-system")
DATASET = {
    "apiVersion": "ballast.dev/v1alpha1",
    "kind": "Dataset",
    "metadata": {"name": "iris", "namespace": "team-a", "uid": "d-1"},
    "spec": {},
}
VERSION = {
    "apiVersion": "ballast.dev/v1alpha1",
    "kind": "ModelVersion",
    "metadata": {"name": "iris-v1", "namespace": "team-a", "uid": "v-1"},
    "spec": {"model": "iris"},
}
INGEST = build_ingest_network_policy(DATASET, SETTINGS)
SERVING = build_serving_network_policy(VERSION, SETTINGS)


def as_deleted(policy: dict) -> dict:
    """What the watch's DELETED event carries: the live object, with the server's own fields."""
    return {
        **policy,
        "metadata": {
            **policy["metadata"],
            "uid": "np-1",
            "resourceVersion": "42",
            "deletionTimestamp": "2026-12-05T03:00:00Z",
        },
    }


def test_a_deleted_policy_is_rebuilt_exactly_as_its_owner_would_build_it():
    assert restored_network_policy(as_deleted(INGEST), "d-1", SETTINGS) == INGEST
    assert restored_network_policy(as_deleted(SERVING), "v-1", SETTINGS) == SERVING


def test_with_the_settings_of_now():
    later = Settings(operator_namespace="ops")
    assert restored_network_policy(as_deleted(SERVING), "v-1", later) == build_serving_network_policy(VERSION, later)


def test_it_stays_deleted_when_its_owner_is_gone_or_was_replaced_by_a_namesake():
    assert restored_network_policy(as_deleted(INGEST), None, SETTINGS) is None
    assert restored_network_policy(as_deleted(SERVING), "v-2", SETTINGS) is None


def test_it_stays_deleted_when_the_setting_is_off():
    assert restored_network_policy(as_deleted(INGEST), "d-1", Settings(ingest_network_policy=False)) is None
    assert restored_network_policy(as_deleted(SERVING), "v-1", Settings(serving_network_policy=False)) is None


def test_a_policy_without_a_ballast_controller_or_with_mismatched_labels_is_not_ballasts_to_restore():
    ownerless = as_deleted({**INGEST, "metadata": {**INGEST["metadata"], "ownerReferences": []}})
    assert restored_network_policy(ownerless, "d-1", SETTINGS) is None
    not_controller = [{**INGEST["metadata"]["ownerReferences"][0], "controller": False}]
    assert (
        restored_network_policy(
            as_deleted({**INGEST, "metadata": {**INGEST["metadata"], "ownerReferences": not_controller}}),
            "d-1",
            SETTINGS,
        )
        is None
    )
    # a Dataset's uid on a policy labelled serving: never built as the other kind
    mislabelled = {**SERVING["metadata"], "ownerReferences": INGEST["metadata"]["ownerReferences"]}
    assert restored_network_policy(as_deleted({**SERVING, "metadata": mislabelled}), "d-1", SETTINGS) is None
