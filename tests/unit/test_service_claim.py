"""Row 9 of issue 12: the model's Service is Ballast's to touch only if absent or already Ballast's."""

from ballast.build.naming import ballast_labels
from ballast.conditions import find_condition
from ballast.reconcile.outcome import Event, Outcome
from ballast.reconcile.service_claim import (
    SERVICE_CONFLICT,
    SERVICE_OWNED,
    ServiceAction,
    ServiceClaim,
    claim_model_service,
    with_service_claim,
)

NOW = "2026-01-01T00:00:00Z"
VERSION_OWNER = {
    "apiVersion": "ballast.dev/v1alpha1",
    "kind": "ModelVersion",
    "name": "iris-v1",
    "uid": "u1",
    "controller": False,
}


def service(labels=None, owners=None, resource_version="42"):
    return {
        "metadata": {
            "name": "iris",
            "namespace": "team-a",
            "labels": labels or {},
            "ownerReferences": owners or [],
            "resourceVersion": resource_version,
        }
    }


def test_an_absent_service_is_created_never_applied():
    assert claim_model_service(None, "iris") == ServiceClaim(ServiceAction.CREATE)


def test_a_service_ballast_made_for_the_model_is_applied_at_the_version_judged():
    live = service(ballast_labels(component="serving", instance="iris", model="iris"), [VERSION_OWNER], "7")
    assert claim_model_service(live, "iris") == ServiceClaim(ServiceAction.APPLY, resource_version="7")


def test_someone_elses_service_of_that_name_is_left_alone():
    claim = claim_model_service(service({"app": "postgres"}), "iris")
    assert claim.action is ServiceAction.LEAVE
    assert "not Ballast's" in claim.why and "postgres" not in claim.why  # names label keys, not values


def test_ballast_labels_for_another_model_do_not_make_it_this_models():
    live = service(ballast_labels(component="serving", instance="other", model="other"))
    assert claim_model_service(live, "iris").action is ServiceAction.LEAVE


def test_ballast_labels_on_a_service_another_controller_controls_do_not_make_it_ballasts():
    controller = {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db", "uid": "s", "controller": True}
    live = service(ballast_labels(component="serving", instance="iris", model="iris"), [controller])
    claim = claim_model_service(live, "iris")
    assert claim.action is ServiceAction.LEAVE and "StatefulSet" in claim.why


def test_a_conflict_sets_the_condition_and_warns_once():
    leave = ServiceClaim(ServiceAction.LEAVE, why="Service iris exists and is not Ballast's")
    outcome = with_service_claim(Outcome(status={"conditions": []}), {}, leave, generation=3, now=NOW)
    condition = find_condition(outcome.status["conditions"], SERVICE_CONFLICT)
    assert (condition["status"], condition["reason"], condition["observedGeneration"]) == ("True", SERVICE_CONFLICT, 3)
    assert outcome.events == [
        Event("Warning", SERVICE_CONFLICT, "Service iris exists and is not Ballast's: Ballast leaves it untouched")
    ]
    again = with_service_claim(
        Outcome(status={"conditions": list(outcome.status["conditions"])}),
        {"conditions": outcome.status["conditions"]},
        leave,
        generation=3,
        now=NOW,
    )
    assert again.events == []


def test_the_condition_goes_false_once_the_service_is_ballasts_and_is_never_added_without_a_conflict():
    conflicted = {
        "conditions": [
            {
                "type": SERVICE_CONFLICT,
                "status": "True",
                "reason": SERVICE_CONFLICT,
                "message": "m",
                "lastTransitionTime": NOW,
            }
        ]
    }
    resolved = with_service_claim(
        Outcome(status={"conditions": conflicted["conditions"]}),
        conflicted,
        ServiceClaim(ServiceAction.APPLY, "8"),
        generation=3,
        now=NOW,
    )
    condition = find_condition(resolved.status["conditions"], SERVICE_CONFLICT)
    assert (condition["status"], condition["reason"]) == ("False", SERVICE_OWNED)
    clean = with_service_claim(
        Outcome(status={"conditions": []}), {}, ServiceClaim(ServiceAction.CREATE), generation=3, now=NOW
    )
    assert clean.status["conditions"] == [] and clean.events == []
