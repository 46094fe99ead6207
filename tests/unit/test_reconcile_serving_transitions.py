"""The ModelVersion stage machine, one transition at a time: which one the table picks for a
situation, and what its action decides and records."""

from datetime import timedelta

import pytest

from ballast.api.modelversion import ModelVersionSpec, RolloutSpec
from ballast.reasons.modelversion import Reason, Stage
from ballast.reconcile.outcome import Outcome
from ballast.reconcile.serving_state import Sibling, serving_input
from ballast.reconcile.serving_transitions import TRANSITIONS, transition_for
from ballast.registry import Verification
from tests.unit.test_reconcile_serving import (
    NAME,
    NOW,
    OK,
    PRODUCTION,
    SETTINGS,
    canary_version,
    traffic,
    version,
)

BAD = Verification(ok=False, reason="DigestMismatch", message="expected a, found b")
NEWER = Sibling("iris-newer", "Production", "2026-01-01T11:00:00Z", ready_replicas=2, uid="u-newer")
CANARY = Sibling("iris-canary", "Canary", None, ready_replicas=1)
ROLLBACK = {"ballast.dev/rollback-requested-at": "2026-01-01T11:59:00Z"}


def situation(body, *, verification=OK, siblings=(), ready=0, samples=None, now=NOW, approved_by=None):
    return serving_input(
        body,
        verification=verification,
        now=now,
        settings=SETTINGS,
        siblings=list(siblings),
        deployment_ready=ready,
        samples=samples,
        approved_by=approved_by,
    )


def decide(case):
    outcome = Outcome()
    transition = transition_for(case)
    return transition.name, transition.action(case, outcome), outcome


def superseded(**status):
    return version("iris-old", stage="Superseded", promotedAt="2026-01-01T10:00:00Z", **status)


def rollback_requested(body):
    body["metadata"]["annotations"] = dict(ROLLBACK)
    return body


def canary_samples(canary):
    return {NAME: canary, "iris-old": traffic(200, feedback=100, correct=95)}


CASES = {
    "supersede when serving is disabled": lambda: situation(version(stage="Production", serving=False)),
    "fail verification": lambda: situation(version(serving=False), verification=BAD),
    "stay registered": lambda: situation(version(stage="Failed", serving=False)),
    "roll back to this version": lambda: situation(
        rollback_requested(superseded(supersededAt="2026-01-01T11:00:00Z")), siblings=[NEWER], ready=2
    ),
    "scale up for a rollback": lambda: situation(
        rollback_requested(superseded(supersededAt="2026-01-01T11:00:00Z")), siblings=[NEWER], ready=0
    ),
    "stay superseded": lambda: situation(superseded(supersededAt="2026-01-01T11:59:50Z"), siblings=[NEWER]),
    "stay rolled back": lambda: situation(version(stage="RolledBack", rollbackReason="step 1 (10%): errors")),
    "give way to a newer version": lambda: situation(
        version("iris-old", stage="Production", promotedAt="2026-01-01T10:00:00Z"), siblings=[NEWER], ready=2
    ),
    "keep serving": lambda: situation(version(stage="Production", promotedAt="2026-01-01T10:00:00Z"), ready=1),
    "queue behind the canary": lambda: situation(version(strategy="Canary"), siblings=[PRODUCTION, CANARY]),
    "start a canary": lambda: situation(version(strategy="Canary"), siblings=[PRODUCTION]),
    "promote once ready": lambda: situation(version(), siblings=[PRODUCTION], ready=2),
    "deploy": lambda: situation(version(stage="Failed"), ready=1),
    "promote without a baseline": lambda: situation(canary_version(), siblings=[]),
    "promote or await approval": lambda: situation(
        canary_version(step=1, auto_promote=False, passed_all=True), siblings=[PRODUCTION]
    ),
    "wait for the analysis": lambda: situation(
        canary_version(started=NOW - timedelta(seconds=20)), siblings=[PRODUCTION], samples=canary_samples(traffic(100))
    ),
    "roll the canary back": lambda: situation(
        canary_version(), siblings=[PRODUCTION], samples=canary_samples(traffic(100, errors=12))
    ),
    "wait for data": lambda: situation(canary_version(), siblings=[PRODUCTION], samples=canary_samples(traffic(3))),
    "move to the next step": lambda: situation(
        canary_version(step=0), siblings=[PRODUCTION], samples=canary_samples(traffic(100))
    ),
    "pass the last step": lambda: situation(
        canary_version(step=1), siblings=[PRODUCTION], samples=canary_samples(traffic(100))
    ),
}


def test_every_transition_of_the_table_has_a_situation_here():
    assert sorted(CASES) == sorted(t.name for t in TRANSITIONS)


@pytest.mark.parametrize("name", list(CASES))
def test_the_table_picks_the_transition_for_its_situation(name):
    assert transition_for(CASES[name]()).name == name


def test_serving_disabled_on_a_production_version_supersedes_it_and_scales_it_down():
    _, decision, outcome = decide(CASES["supersede when serving is disabled"]())
    assert (decision.stage, decision.replicas, decision.ready.reason) == (Stage.SUPERSEDED, 0, Reason.REGISTERED)
    assert outcome.status["supersededAt"] == "2026-01-01T12:00:00Z"
    assert [(e.reason, e.message) for e in outcome.events] == [("Superseded", "serving was disabled")]


@pytest.mark.parametrize(
    "body",
    [version(serving=False), version(), version(stage="RolledBack"), version(stage="Failed", serving=False)],
    ids=["registry only", "served", "rolled back", "failed before"],
)
def test_an_artifact_that_does_not_verify_fails_the_version_with_the_reasons_text(body):
    _, decision, outcome = decide(situation(body, verification=BAD))
    assert (decision.stage, decision.replicas) == (Stage.FAILED, 0)
    assert (decision.ready.status, decision.ready.reason) == ("False", "DigestMismatch")
    assert "expected a, found b" in decision.ready.message
    assert outcome.patch_statuses == [] and outcome.wake_at is None


def test_a_failed_registry_only_version_whose_artifact_verifies_again_is_a_candidate():
    _, decision, _ = decide(CASES["stay registered"]())
    assert (decision.stage, decision.replicas, decision.ready.status) == (Stage.CANDIDATE, 0, "True")


def test_a_rollback_supersedes_the_current_production_version_before_it_is_production_again():
    _, decision, outcome = decide(CASES["roll back to this version"]())
    assert decision.stage is Stage.PRODUCTION and decision.replicas == 2
    assert outcome.status["supersededAt"] is None and outcome.status["promotedAt"] == "2026-01-01T12:00:00Z"
    [replaced] = outcome.patch_statuses
    assert (replaced.plural, replaced.namespace, replaced.name) == ("modelversions", "ml", "iris-newer")
    assert {"op": "test", "path": "/metadata/uid", "value": "u-newer"} in replaced.operations


def test_a_rollback_scales_up_first_and_keeps_the_stage():
    _, decision, outcome = decide(CASES["scale up for a rollback"]())
    assert (decision.stage, decision.replicas, decision.ready.reason) == (Stage.SUPERSEDED, 2, Reason.ROLLING_BACK)
    assert outcome.patch_statuses == []


def test_a_superseded_version_wakes_when_its_grace_period_ends_then_scales_down():
    _, during, outcome = decide(CASES["stay superseded"]())
    assert during.replicas == 2 and outcome.wake_at == NOW + timedelta(seconds=20)  # superseded 10 s ago, 30 s grace
    _, after, later = decide(situation(superseded(supersededAt="2026-01-01T11:59:00Z")))
    assert after.replicas == 0 and later.wake_at is None


def test_a_rolled_back_version_says_why():
    _, decision, _ = decide(CASES["stay rolled back"]())
    assert (decision.replicas, decision.ready.status, decision.ready.message) == (0, "False", "step 1 (10%): errors")


def test_production_gives_way_to_a_newer_version_and_wakes_when_its_grace_ends():
    _, decision, outcome = decide(CASES["give way to a newer version"]())
    assert (decision.stage, decision.replicas) == (Stage.SUPERSEDED, 2)
    assert outcome.events[0].message == "iris-newer was promoted"
    assert outcome.wake_at == NOW + timedelta(seconds=SETTINGS.superseded_grace_seconds)


def test_production_with_fewer_ready_pods_than_wanted_is_not_ready():
    _, decision, outcome = decide(CASES["keep serving"]())
    assert (decision.stage, decision.ready.status, decision.ready.reason) == (
        Stage.PRODUCTION,
        "False",
        Reason.REPLICAS_UNAVAILABLE,
    )
    assert outcome.status == {} and outcome.events == []


def test_a_third_version_is_queued_without_replicas():
    _, decision, _ = decide(CASES["queue behind the canary"]())
    assert (decision.stage, decision.replicas, decision.ready.message) == (
        Stage.CANDIDATE,
        0,
        "iris-canary is the model's canary; this version waits",
    )


def test_a_started_canary_wakes_when_its_first_step_is_due():
    _, decision, outcome = decide(CASES["start a canary"]())
    assert decision.stage is Stage.CANARY and outcome.status["canary"]["production"] == "iris-old"
    assert outcome.wake_at == NOW + timedelta(minutes=1)  # the default analysisInterval


def test_a_promotion_supersedes_the_replaced_version_only_while_it_is_still_production():
    _, decision, outcome = decide(CASES["promote once ready"]())
    assert decision.stage is Stage.PRODUCTION
    [replaced] = outcome.patch_statuses
    assert replaced.name == "iris-old"
    assert list(replaced.operations) == [
        {"op": "test", "path": "/status/stage", "value": "Production"},
        {"op": "replace", "path": "/status/stage", "value": "Superseded"},
        {"op": "add", "path": "/status/supersededAt", "value": "2026-01-01T12:00:00Z"},
    ]


def test_a_failed_version_whose_artifact_verifies_again_deploys_as_a_candidate():
    _, decision, _ = decide(CASES["deploy"]())
    assert (decision.stage, decision.replicas, decision.ready.reason) == (Stage.CANDIDATE, 2, Reason.DEPLOYING)


def test_a_canary_whose_baseline_is_gone_is_promoted():
    _, decision, outcome = decide(CASES["promote without a baseline"]())
    assert decision.stage is Stage.PRODUCTION and [e.reason for e in outcome.events] == ["Promoted"]


def test_a_canary_that_passed_every_step_waits_for_approval_at_its_last_step():
    _, decision, outcome = decide(CASES["promote or await approval"]())
    assert (decision.stage, decision.replicas, decision.ready.reason) == (Stage.CANARY, 2, Reason.AWAITING_APPROVAL)
    assert outcome.wake_at is None  # only a change of spec.rollout.approved moves it on


def test_a_step_not_yet_due_wakes_when_it_is():
    _, decision, outcome = decide(CASES["wait for the analysis"]())
    assert decision.stage is Stage.CANARY and "analysis" not in outcome.status
    assert outcome.wake_at == NOW + timedelta(seconds=40)  # started 20 s ago, judged after 1m


def test_a_failing_canary_is_rolled_back_with_its_analysis():
    _, decision, outcome = decide(CASES["roll the canary back"]())
    assert (decision.stage, decision.replicas) == (Stage.ROLLED_BACK, 0)
    assert outcome.status["analysis"]["verdict"] == "Fail" and "errorRate" in outcome.status["rollbackReason"]


def test_a_canary_without_enough_data_is_judged_again_soon():
    _, decision, outcome = decide(CASES["wait for data"]())
    assert decision.stage is Stage.CANARY and outcome.status["analysis"]["verdict"] == "NotEnoughData"
    assert outcome.wake_at == NOW + timedelta(seconds=SETTINGS.poll_interval_seconds)


def test_a_passed_step_starts_the_next_one_and_wakes_when_that_is_due():
    _, decision, outcome = decide(CASES["move to the next step"]())
    assert outcome.status["canary"]["step"] == 1 and decision.replicas == 2
    assert outcome.wake_at == NOW + timedelta(minutes=1)


def test_the_last_passed_step_promotes_and_supersedes_the_baseline():
    _, decision, outcome = decide(CASES["pass the last step"]())
    assert decision.stage is Stage.PRODUCTION and outcome.status["canary"]["passedAllSteps"] is True
    assert [e.reason for e in outcome.events] == ["CanaryPassed", "Promoted"]
    assert [p.name for p in outcome.patch_statuses] == ["iris-old"]


def test_the_rollouts_defaults_live_in_the_api_model():
    assert RolloutSpec().steps == [10, 50]
    schema = ModelVersionSpec.model_json_schema()["$defs"]["RolloutSpec"]["properties"]
    assert schema["steps"]["default"] == [10, 50] and schema["analysisInterval"]["default"] == "1m"
    assert schema["autoPromote"]["default"] is True and schema["strategy"]["default"] == "Canary"
