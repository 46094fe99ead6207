"""Serving decisions for a ModelVersion among its model's versions, without a cluster."""

from datetime import datetime, timedelta, timezone

from ballast.reconcile.modelversion import reconcile_model_version
from ballast.reconcile.serving import DeploymentState, Sibling, in_transition
from ballast.registry import Verification
from ballast.settings import Settings

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
SETTINGS = Settings(superseded_grace_seconds=30)
OK = Verification(ok=True, reason="Verified", message="ok")


def version(name="iris-aaaaaaaaaaaa", stage=None, strategy="Immediate", replicas=2, serving=True, **status):
    spec = {"model": "iris", "artifact": {"uri": "file:///var/lib/ballast/models/iris/a/model.skops",
                                          "sha256": "a" * 64},
            "rollout": {"strategy": strategy}}
    if serving:
        spec["serving"] = {"enabled": True, "replicas": replicas}
    return {"metadata": {"name": name, "namespace": "ml", "uid": "u-" + name, "generation": 1},
            "apiVersion": "ballast.dev/v1alpha1", "kind": "ModelVersion", "spec": spec,
            "status": {**({"stage": stage} if stage else {}), **status}}


def reconcile(body, siblings=(), ready=0, verification=OK, spec_hash=None, now=NOW):
    return reconcile_model_version(body, verification, now, siblings=list(siblings),
                                   deployment=DeploymentState(ready, spec_hash), settings=SETTINGS)


def ready(outcome):
    return next(c for c in outcome.status["conditions"] if c["type"] == "Ready")


def deployment(outcome):
    return next(m for _, m in outcome.apply_manifests if m["kind"] == "Deployment")


def test_the_first_version_deploys_and_waits_for_its_pods():
    outcome = reconcile(version())
    assert outcome.status["stage"] == "Candidate"
    assert deployment(outcome)["spec"]["replicas"] == 2
    assert (ready(outcome)["status"], ready(outcome)["reason"]) == ("Unknown", "Deploying")
    service = next(m for _, m in outcome.apply_manifests if m["kind"] == "Service")
    assert service["spec"]["selector"]["ballast.dev/model"] == "iris"
    assert service["metadata"]["ownerReferences"][0]["controller"] is False


def test_the_first_version_goes_to_production_once_its_pods_are_ready():
    outcome = reconcile(version(), ready=2)
    assert outcome.status["stage"] == "Production"
    assert outcome.status["promotedAt"] == "2026-01-01T12:00:00Z"
    assert outcome.status["trafficPercent"] == 100
    assert outcome.status["endpoint"] == "http://iris.ml.svc/v2/models/iris"
    assert [e.reason for e in outcome.events].count("Promoted") == 1


def test_the_serving_pod_is_restricted_probed_and_has_no_api_token():
    pod = deployment(reconcile(version()))["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["automountServiceAccountToken"] is False and pod["securityContext"]["runAsNonRoot"] is True
    assert container["args"] == ["serve"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/models/iris/ready"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["BALLAST_ARTIFACT_SHA256"] == "a" * 64


def test_an_unchanged_deployment_is_not_applied_again():
    first = reconcile(version(), ready=0)
    applied_hash = deployment(first)["metadata"]["annotations"]["ballast.dev/spec-hash"]
    again = reconcile(version(), ready=0, spec_hash=applied_hash)
    assert again.apply_manifests == []


def test_immediate_replaces_production_once_ready_and_the_old_one_is_superseded_then_scaled_down():
    old = Sibling("iris-old", "Production", "2026-01-01T10:00:00Z", ready_replicas=2)
    new = reconcile(version(), siblings=[old], ready=2)
    assert new.status["stage"] == "Production" and new.status["trafficPercent"] == 50
    assert "replacing iris-old" in new.events[0].message

    newer = Sibling("iris-aaaaaaaaaaaa", "Production", "2026-01-01T12:00:00Z", ready_replicas=2)
    old_body = version("iris-old", stage="Production", promotedAt="2026-01-01T10:00:00Z")
    superseded = reconcile(old_body, siblings=[newer], ready=2)
    assert superseded.status["stage"] == "Superseded"
    assert deployment(superseded)["spec"]["replicas"] == 2  # still serving during the grace period

    later = version("iris-old", stage="Superseded", supersededAt="2026-01-01T12:00:00Z")
    assert deployment(reconcile(later, siblings=[newer], ready=2,
                                now=NOW + timedelta(seconds=10)))["spec"]["replicas"] == 2
    assert deployment(reconcile(later, siblings=[newer], ready=2,
                                now=NOW + timedelta(seconds=31)))["spec"]["replicas"] == 0


def test_canary_next_to_production_is_reported_as_not_supported_and_not_deployed():
    production = Sibling("iris-old", "Production", "2026-01-01T10:00:00Z", ready_replicas=1)
    outcome = reconcile(version(strategy="Canary"), siblings=[production])
    assert (ready(outcome)["status"], ready(outcome)["reason"]) == ("False", "CanaryUnsupported")
    assert deployment(outcome)["spec"]["replicas"] == 0


def test_an_artifact_that_fails_verification_is_never_served():
    bad = Verification(ok=False, reason="DigestMismatch", message="expected a, found b")
    outcome = reconcile(version(), verification=bad)
    assert outcome.status["stage"] == "Failed"
    assert outcome.apply_manifests == []
    assert (ready(outcome)["status"], ready(outcome)["reason"]) == ("False", "DigestMismatch")


def test_production_keeps_serving_when_its_file_changes_but_says_so():
    bad = Verification(ok=False, reason="DigestMismatch", message="expected a, found b")
    outcome = reconcile(version(stage="Production", promotedAt="2026-01-01T10:00:00Z"), ready=2, verification=bad)
    assert outcome.status["stage"] == "Production"
    assert deployment(outcome)["spec"]["replicas"] == 2
    assert (ready(outcome)["status"], ready(outcome)["reason"]) == ("False", "DigestMismatch")


def test_registry_only_versions_are_not_deployed_or_polled():
    body = version(serving=False)
    outcome = reconcile(body)
    assert outcome.apply_manifests == [] and outcome.status["stage"] == "Candidate"
    assert (ready(outcome)["status"], ready(outcome)["reason"]) == ("True", "Registered")
    assert not in_transition(body["spec"], {"stage": "Candidate"})
    assert in_transition(version()["spec"], {"stage": "Production"})
