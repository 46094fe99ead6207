"""How a ModelVersion's children are carried out (handlers/apply.py) against a fake API: a
foreign Service is never touched while the Deployment still rolls out (issue 12, row 9), and a
serving Deployment comes with its namespace's feedback Secret and its NetworkPolicy (row 6)."""

from datetime import UTC, datetime

import kopf
import pytest
from kubernetes.client.exceptions import ApiException

from ballast import kube
from ballast.build.naming import ballast_labels
from ballast.conditions import find_condition
from ballast.handlers.apply import _create_and_delete_children
from ballast.reconcile.modelversion import reconcile_model_version
from ballast.reconcile.service_claim import SERVICE_CONFLICT
from ballast.reconcile.serving import DeploymentState, Sibling
from ballast.registry import Verification
from ballast.settings import Settings

SETTINGS = Settings()
RAW = {
    "apiVersion": "ballast.dev/v1alpha1",
    "kind": "ModelVersion",
    "metadata": {"name": "postgres-v1", "namespace": "team-a", "uid": "u-1", "generation": 2},
    "spec": {
        "model": "postgres",
        "artifact": {"uri": "file:///var/lib/ballast/m.skops", "sha256": "a" * 64},
        "serving": {"enabled": True, "replicas": 1},
        "rollout": {"strategy": "Immediate"},
    },
    "status": {},
}


class FakeApi:
    def __init__(self, monkeypatch, live_service):
        self.live_service, self.applied, self.created, self.secrets, self.claims = live_service, [], [], [], []
        monkeypatch.setattr(kube, "ensure_claim", lambda manifest: self.claims.append(manifest))
        monkeypatch.setattr(kube, "read_service", lambda namespace, name: self.live_service)
        monkeypatch.setattr(kube, "server_side_apply", self.apply)
        monkeypatch.setattr(kube, "create_service", lambda manifest, field_manager: self.created.append(manifest))
        monkeypatch.setattr(kube, "create_secret_if_absent", lambda manifest: self.secrets.append(manifest))

    def apply(self, manifest, *, field_manager, resource_version=None):
        self.applied.append((manifest["kind"], resource_version))


def carried_out(api: FakeApi):
    outcome = reconcile_model_version(
        RAW,
        Verification(ok=True, reason="Verified", message="ok"),
        datetime(2026, 1, 1, tzinfo=UTC),
        siblings=[],
        deployment=DeploymentState(),
        settings=SETTINGS,
        service_owners=frozenset(),
    )
    return _create_and_delete_children(kopf.Body(RAW), outcome, SETTINGS)


def test_a_foreign_service_of_the_models_name_is_left_alone_and_the_deployment_still_rolls_out(monkeypatch):
    api = FakeApi(
        monkeypatch, {"metadata": {"name": "postgres", "labels": {"app": "postgres"}, "resourceVersion": "9"}}
    )
    outcome = carried_out(api)
    assert ("Service", None) not in api.applied and ("Service", "9") not in api.applied and api.created == []
    assert ("Deployment", None) in api.applied
    # a namespace whose first pod is a serving one gets the store's claim with it
    assert [(c["kind"], c["metadata"]["name"]) for c in api.claims] == [("PersistentVolumeClaim", "ballast-artifacts")]
    condition = find_condition(outcome.status["conditions"], SERVICE_CONFLICT)
    assert condition["status"] == "True"
    assert [e.reason for e in outcome.events if e.type == "Warning"] == [SERVICE_CONFLICT]


def test_an_absent_service_is_created_and_ballasts_own_is_applied_at_the_version_judged(monkeypatch):
    api = FakeApi(monkeypatch, None)
    outcome = carried_out(api)
    assert [m["metadata"]["name"] for m in api.created] == ["postgres"]
    assert find_condition(outcome.status["conditions"], SERVICE_CONFLICT) is None
    api.live_service = {
        "metadata": {
            "name": "postgres",
            "resourceVersion": "11",
            "labels": ballast_labels(component="serving", instance="postgres", model="postgres"),
        }
    }
    carried_out(api)
    assert ("Service", "11") in api.applied


def test_a_service_that_changed_since_it_was_judged_is_not_applied_over(monkeypatch):
    api = FakeApi(
        monkeypatch,
        {
            "metadata": {
                "name": "postgres",
                "resourceVersion": "11",
                "labels": ballast_labels(component="serving", instance="postgres", model="postgres"),
            }
        },
    )

    def conflict(manifest, *, field_manager, resource_version=None):
        if manifest["kind"] == "Service":
            raise ApiException(status=409, reason="Conflict")
        api.applied.append((manifest["kind"], resource_version))

    monkeypatch.setattr(kube, "server_side_apply", conflict)
    carried_out(api)  # no exception: the next reconcile judges the Service again
    assert ("Deployment", None) in api.applied


def test_a_serving_deployment_comes_with_the_feedback_secret_and_its_network_policy(monkeypatch):
    api = FakeApi(monkeypatch, None)
    carried_out(api)
    [secret] = api.secrets
    assert secret["metadata"]["name"] == "ballast-feedback" and len(secret["stringData"]["token"]) >= 40
    kinds = [kind for kind, _ in api.applied]
    assert kinds.index("NetworkPolicy") < kinds.index("Deployment")


def test_no_network_policy_when_the_chart_turns_them_off(monkeypatch):
    api = FakeApi(monkeypatch, None)
    outcome = reconcile_model_version(
        RAW,
        Verification(ok=True, reason="Verified", message="ok"),
        datetime(2026, 1, 1, tzinfo=UTC),
        siblings=[],
        deployment=DeploymentState(),
        settings=SETTINGS,
        service_owners=frozenset(),
    )
    _create_and_delete_children(kopf.Body(RAW), outcome, Settings(serving_network_policy=False))
    assert "NetworkPolicy" not in [kind for kind, _ in api.applied]


def test_a_replaced_version_is_superseded_after_the_children_and_before_the_own_status(monkeypatch):
    FakeApi(monkeypatch, None)
    writes = []
    monkeypatch.setattr(kube, "server_side_apply", lambda manifest, **_: writes.append(manifest["kind"]))
    monkeypatch.setattr(kube, "create_service", lambda manifest, field_manager: writes.append("Service"))
    monkeypatch.setattr(
        kube, "patch_custom_object_status", lambda plural, namespace, name, operations: writes.append(name)
    )
    outcome = reconcile_model_version(
        RAW,
        Verification(ok=True, reason="Verified", message="ok"),
        datetime(2026, 1, 1, tzinfo=UTC),
        siblings=[Sibling("postgres-v0", "Production", "2025-12-31T00:00:00Z", ready_replicas=1)],
        deployment=DeploymentState(ready_replicas=1),
        settings=SETTINGS,
        service_owners=frozenset(),
    )
    assert outcome.status["stage"] == "Production"
    _create_and_delete_children(kopf.Body(RAW), outcome, SETTINGS)
    # the own status is written by kopf once the handler returns, after all of these
    assert writes[-1] == "postgres-v0" and {"Service", "Deployment"} <= set(writes[:-1])


def test_a_status_patch_whose_object_moved_on_or_went_is_skipped_and_other_errors_are_raised(monkeypatch):
    class Api:
        status = None

    def patch(method, resource_path, *, body, content_type):
        assert (method, resource_path) == (
            "PATCH",
            "/apis/ballast.dev/v1alpha1/namespaces/ml/modelversions/iris-old/status",
        )
        assert content_type == "application/json-patch+json" and body[0]["op"] == "test"
        if Api.status:
            raise ApiException(status=Api.status)
        return {"metadata": {"name": "iris-old", "resourceVersion": "42"}}

    monkeypatch.setattr(kube, "request", patch)
    operations = [{"op": "test", "path": "/status/stage", "value": "Production"}]
    assert kube.patch_custom_object_status("modelversions", "ml", "iris-old", operations) == "42"
    for gone_or_moved_on in (404, 422):
        Api.status = gone_or_moved_on
        assert kube.patch_custom_object_status("modelversions", "ml", "iris-old", operations) is None
    Api.status = 500
    with pytest.raises(ApiException):
        kube.patch_custom_object_status("modelversions", "ml", "iris-old", operations)
