"""Serving decisions for a ModelVersion among its model's versions, without a cluster."""

from datetime import UTC, datetime, timedelta

import pytest

from ballast.api.annotations import APPROVED_BY_ANNOTATION
from ballast.canary.samples import Sample
from ballast.handlers.apply import ready_transition_events
from ballast.reconcile.modelversion import reconcile_model_version
from ballast.reconcile.serving import DeploymentState, Sibling, in_transition
from ballast.registry import Verification
from ballast.settings import Settings
from tests.support.kstatus import kstatus_after, reconciling_and_stalled

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
SETTINGS = Settings(superseded_grace_seconds=30)
OK = Verification(ok=True, reason="Verified", message="ok")


NAME = "iris-aaaaaaaaaaaa"


def version(name=NAME, stage=None, strategy="Immediate", replicas=2, serving=True, **status):
    spec = {
        "model": "iris",
        "artifact": {"uri": "file:///var/lib/ballast/models/iris/a/model.skops", "sha256": "a" * 64},
        "rollout": {"strategy": strategy},
    }
    if serving:
        spec["serving"] = {"enabled": True, "replicas": replicas}
    return {
        "metadata": {"name": name, "namespace": "ml", "uid": "u-" + name, "generation": 1},
        "apiVersion": "ballast.dev/v1alpha1",
        "kind": "ModelVersion",
        "spec": spec,
        "status": {**({"stage": stage} if stage else {}), **status},
    }


def reconcile(body, siblings=(), ready=0, verification=OK, spec_hash=None, now=NOW, service_owners=None):
    return reconcile_model_version(
        body,
        verification,
        now,
        siblings=list(siblings),
        deployment=DeploymentState(ready, spec_hash),
        settings=SETTINGS,
        service_owners=service_owners,
    )


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
    owned = reconcile(version(), ready=0, spec_hash=applied_hash, service_owners=frozenset({"u-other", "u-" + NAME}))
    assert owned.apply_manifests == []


def test_a_service_deleted_behind_ballasts_back_is_applied_again_without_the_deployment():
    applied_hash = deployment(reconcile(version(), ready=1))["metadata"]["annotations"]["ballast.dev/spec-hash"]
    for owners in (frozenset(), frozenset({"u-another-version"})):  # deleted, or recreated by another version
        outcome = reconcile(version(stage="Production"), ready=1, spec_hash=applied_hash, service_owners=owners)
        assert [(manager, m["kind"]) for manager, m in outcome.apply_manifests] == [(f"ballast-{NAME}", "Service")]
        assert outcome.apply_manifests[0][1]["metadata"]["ownerReferences"][0]["uid"] == "u-" + NAME


def test_a_version_that_serves_nothing_does_not_bring_the_service_back():
    outcome = reconcile(version(serving=False), service_owners=frozenset())
    assert outcome.apply_manifests == []


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
    assert (
        deployment(reconcile(later, siblings=[newer], ready=2, now=NOW + timedelta(seconds=10)))["spec"]["replicas"]
        == 2
    )
    assert (
        deployment(reconcile(later, siblings=[newer], ready=2, now=NOW + timedelta(seconds=31)))["spec"]["replicas"]
        == 0
    )


PRODUCTION = Sibling("iris-old", "Production", "2026-01-01T10:00:00Z", ready_replicas=2)


def canary_version(
    step=0,
    started=NOW - timedelta(minutes=2),
    auto_promote=True,
    approved=False,
    limits=None,
    passed_all=False,
    **extra,
):
    body = version(stage="Canary", strategy="Canary", replicas=2)
    body["spec"]["rollout"].update(
        steps=[20, 50], analysisInterval="1m", autoPromote=auto_promote, approved=approved, limits=limits or {}
    )
    body["status"]["canary"] = {
        "step": step,
        "stepStartedAt": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "production": "iris-old",
        "canaryStart": Sample().to_status(),
        "productionStart": Sample().to_status(),
        **({"passedAllSteps": True} if passed_all else {}),
    }
    body["status"].update(extra)
    return body


def traffic(requests, errors=0, fast=True, feedback=0, correct=0):
    le = 0.005 if fast else 2.5
    return Sample(
        requests=requests,
        server_errors=errors,
        latency_buckets={le: requests, float("inf"): requests},
        feedback=feedback,
        feedback_correct=correct,
    )


def canary_reconcile(body, canary, production=traffic(200, feedback=100, correct=95), **kwargs):
    return reconcile_model_version(
        body,
        OK,
        NOW,
        siblings=[PRODUCTION],
        deployment=DeploymentState(1),
        settings=SETTINGS,
        samples={body["metadata"]["name"]: canary, "iris-old": production},
        **kwargs,
    )


def test_a_canary_starts_at_the_first_step_with_replicas_by_ratio():
    outcome = reconcile(version(strategy="Canary"), siblings=[PRODUCTION])
    assert outcome.status["stage"] == "Canary"
    assert outcome.status["canary"]["step"] == 0 and outcome.status["canary"]["production"] == "iris-old"
    assert deployment(outcome)["spec"]["replicas"] == 1  # 2 production replicas * 10/90, at least one
    assert (ready(outcome)["reason"], outcome.events[0].reason) == ("Canary", "CanaryStarted")


def test_a_third_version_waits_for_the_canary():
    canary = Sibling("iris-canary", "Canary", None, ready_replicas=1)
    outcome = reconcile(version(strategy="Canary"), siblings=[PRODUCTION, canary])
    assert (outcome.status["stage"], ready(outcome)["reason"]) == ("Candidate", "Queued")
    assert deployment(outcome)["spec"]["replicas"] == 0


def test_a_step_is_judged_only_after_its_analysis_interval():
    outcome = canary_reconcile(canary_version(started=NOW - timedelta(seconds=30)), traffic(100))
    assert outcome.status["stage"] == "Canary" and "analysis" not in outcome.status


def test_a_passing_step_moves_on_and_the_last_one_promotes():
    first = canary_reconcile(canary_version(step=0), traffic(100, feedback=50, correct=48))
    assert first.status["canary"]["step"] == 1 and first.status["analysis"]["verdict"] == "Pass"
    assert first.status["canary"]["canaryStart"]["requests"] == 100  # the next window starts here
    assert deployment(first)["spec"]["replicas"] == 2  # 50% next to 2 production replicas
    last = canary_reconcile(canary_version(step=1), traffic(100))
    assert last.status["stage"] == "Production" and last.status["promotedAt"] == "2026-01-01T12:00:00Z"


def test_without_auto_promote_the_canary_waits_for_approval_and_records_who_gave_it():
    waiting = canary_reconcile(canary_version(step=1, auto_promote=False), traffic(100))
    assert (waiting.status["stage"], ready(waiting)["reason"]) == ("Canary", "AwaitingApproval")
    assert waiting.status["canary"]["passedAllSteps"] is True
    approved = canary_reconcile(
        canary_version(step=1, auto_promote=False, approved=True, passed_all=True),
        traffic(100),
        approved_by="kubectl-patch",
    )
    assert approved.status["stage"] == "Production"
    assert approved.status["approval"] == {"by": "kubectl-patch", "at": "2026-01-01T12:00:00Z"}
    named = canary_version(step=1, auto_promote=False, approved=True, passed_all=True)
    named["metadata"]["annotations"] = {APPROVED_BY_ANNOTATION: "alice"}
    by_alice = canary_reconcile(named, traffic(100), approved_by="kubectl-ballast")
    assert by_alice.status["approval"] == {"by": "kubectl-ballast", "at": "2026-01-01T12:00:00Z", "user": "alice"}


def test_errors_roll_the_canary_back_with_the_numbers():
    outcome = canary_reconcile(canary_version(), traffic(100, errors=12))
    assert outcome.status["stage"] == "RolledBack"
    assert deployment(outcome)["spec"]["replicas"] == 0
    assert "errorRate 0.12" in outcome.status["rollbackReason"]
    assert [e.reason for e in outcome.events if e.type == "Warning"] == ["RolledBack"]


def test_collapsing_feedback_accuracy_rolls_back_against_production():
    outcome = canary_reconcile(canary_version(), traffic(100, feedback=40, correct=10))
    assert outcome.status["stage"] == "RolledBack"
    assert "accuracy 0.25" in outcome.status["rollbackReason"]


def test_a_slow_canary_breaks_its_p99_limit():
    outcome = canary_reconcile(canary_version(limits={"maxP99LatencyMs": 50}), traffic(100, fast=False))
    assert outcome.status["stage"] == "RolledBack" and "p99LatencyMs" in outcome.status["rollbackReason"]


def test_no_traffic_is_not_enough_data_and_never_a_promotion():
    outcome = canary_reconcile(canary_version(step=1), traffic(3))
    assert outcome.status["stage"] == "Canary"
    assert outcome.status["analysis"]["verdict"] == "NotEnoughData"


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


def test_a_rollback_request_brings_a_superseded_version_back_once_its_pods_are_ready():
    body = version(
        "iris-old", stage="Superseded", promotedAt="2026-01-01T10:00:00Z", supersededAt="2026-01-01T11:00:00Z"
    )
    current = Sibling("iris-aaaaaaaaaaaa", "Production", "2026-01-01T11:00:00Z", ready_replicas=2)
    body["metadata"]["annotations"] = {"ballast.dev/rollback-requested-at": "2026-01-01T11:59:00Z"}
    scaling = reconcile(body, siblings=[current], ready=0)
    assert scaling.status["stage"] == "Superseded" and deployment(scaling)["spec"]["replicas"] == 2
    assert ready(scaling)["reason"] == "RollingBack"
    back = reconcile(body, siblings=[current], ready=2)
    assert back.status["stage"] == "Production" and back.status["promotedAt"] == "2026-01-01T12:00:00Z"
    assert back.status["supersededAt"] is None
    assert "rollback from iris-aaaaaaaaaaaa" in back.events[0].message


def test_an_old_rollback_request_is_not_replayed():
    body = version(
        "iris-old", stage="Superseded", promotedAt="2026-01-01T11:59:30Z", supersededAt="2026-01-01T11:59:50Z"
    )
    body["metadata"]["annotations"] = {"ballast.dev/rollback-requested-at": "2026-01-01T11:59:00Z"}
    later = reconcile(body, siblings=[], ready=0, now=NOW + timedelta(minutes=5))
    assert later.status["stage"] == "Superseded" and deployment(later)["spec"]["replicas"] == 0


def test_a_serving_pod_that_cannot_start_is_named_while_the_version_deploys_once_with_an_event():
    problem = "Unschedulable: 0/1 nodes are available: 1 Insufficient memory."
    stuck = reconcile_model_version(
        version(), OK, NOW, siblings=[], deployment=DeploymentState(0), settings=SETTINGS, pod_problem=problem
    )
    assert (ready(stuck)["status"], ready(stuck)["reason"]) == ("Unknown", "PodCannotStart")
    assert "0 of 2 replicas ready" in ready(stuck)["message"] and problem in ready(stuck)["message"]
    assert [(e.type, e.reason) for e in ready_transition_events({}, stuck)] == [("Warning", "PodCannotStart")]
    deploying = version(conditions=stuck.status["conditions"])
    again = reconcile_model_version(
        deploying, OK, NOW, siblings=[], deployment=DeploymentState(0), settings=SETTINGS, pod_problem=problem
    )
    assert ready_transition_events(deploying["status"], again) == [] and ready(again)["reason"] == "PodCannotStart"
    # a version already serving stays Serving while one more replica cannot start
    serving = reconcile_model_version(
        version(stage="Production"),
        OK,
        NOW,
        siblings=[],
        deployment=DeploymentState(2),
        settings=SETTINGS,
        pod_problem=problem,
    )
    assert ready(serving)["reason"] == "Serving"


def test_two_versions_of_a_model_are_never_production_at_once_as_the_writes_land():
    """The promoting reconcile's writes, in the order they reach the API server: the replaced
    version's status first, then the promoted one's; no moment in between shows two."""
    stages = {"iris-old": "Production", NAME: "Candidate"}
    old = Sibling("iris-old", "Production", "2026-01-01T10:00:00Z", ready_replicas=2, uid="u-iris-old")
    outcome = reconcile(version(), siblings=[old], ready=2)
    seen = []
    for change in outcome.patch_statuses:
        assert {"op": "test", "path": "/status/stage", "value": stages[change.name]} in change.operations
        replaced = next(op["value"] for op in change.operations if op["path"] == "/status/stage" and op["op"] != "test")
        stages[change.name] = replaced
        seen.append(dict(stages))
    stages[NAME] = outcome.status["stage"]
    seen.append(dict(stages))
    assert seen[-1] == {"iris-old": "Superseded", NAME: "Production"}
    assert all(list(s.values()).count("Production") <= 1 for s in seen), seen


def test_a_registry_only_version_whose_artifact_fails_verification_is_failed_and_ready_says_why():
    bad = Verification(ok=False, reason="DigestMismatch", message="expected a, found b")
    for body in (version(serving=False), version()):
        outcome = reconcile(body, verification=bad)
        assert outcome.status["stage"] == "Failed"
        assert (ready(outcome)["status"], ready(outcome)["reason"]) == ("False", "DigestMismatch")
        assert "expected a, found b" in ready(outcome)["message"]


def test_the_next_verification_is_when_the_reconcile_must_run_again_at_the_latest():
    outcome = reconcile_model_version(
        version(), OK, NOW, siblings=[], deployment=DeploymentState(0), settings=SETTINGS, verified_at=NOW
    )
    assert outcome.wake_at == NOW + timedelta(seconds=SETTINGS.verify_interval_seconds)
    canary = reconcile_model_version(
        version(strategy="Canary"),
        OK,
        NOW,
        siblings=[PRODUCTION],
        deployment=DeploymentState(0),
        settings=SETTINGS,
        verified_at=NOW,
    )
    assert canary.wake_at == NOW + timedelta(minutes=1)  # the canary's first analysis comes first


def test_a_rollout_under_way_is_reconciling_a_served_version_is_neither_and_a_failed_one_stalls():
    assert reconciling_and_stalled(reconcile(version()).status) == ("True", "False")  # deploying
    assert reconciling_and_stalled(reconcile(version(), ready=2).status) == ("False", "False")  # in Production
    awaiting = canary_reconcile(canary_version(step=1, auto_promote=False), traffic(100))
    assert reconciling_and_stalled(awaiting.status) == ("True", "False")
    rolled_back = canary_reconcile(canary_version(), traffic(100, errors=12))
    assert reconciling_and_stalled(rolled_back.status) == ("False", "True")
    missing = Verification(ok=False, reason="ArtifactMissing", message="no such object")
    unverified = reconcile(version(), verification=missing)
    assert reconciling_and_stalled(unverified.status) == ("False", "True")
    assert next(c for c in unverified.status["conditions"] if c["type"] == "Stalled")["reason"] == "ArtifactMissing"


@pytest.mark.tools
def test_kstatus_reads_a_rollout_a_served_version_a_rolled_back_canary_and_a_missing_artifact():
    new = version()
    assert kstatus_after(new, reconcile(new).status) == "InProgress"
    assert kstatus_after(new, reconcile(new, ready=2).status) == "Current"
    awaiting = canary_version(step=1, auto_promote=False)
    assert kstatus_after(awaiting, canary_reconcile(awaiting, traffic(100)).status) == "InProgress"
    failing = canary_version()
    assert kstatus_after(failing, canary_reconcile(failing, traffic(100, errors=12)).status) == "Failed"
    missing = Verification(ok=False, reason="ArtifactMissing", message="no such object")
    assert kstatus_after(new, reconcile(new, verification=missing).status) == "Failed"
