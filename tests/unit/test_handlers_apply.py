import kopf
from kubernetes.client.exceptions import ApiException

from ballast.conditions import find_condition
from ballast.handlers.apply import ready_transition_events, refused_outcome, status_changes
from ballast.kube import ChildRefused
from ballast.reconcile.outcome import Event, Outcome


def ready(status, reason, message="m"):
    return {
        "type": "Ready",
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }


def test_only_changed_fields_are_written():
    current = {"observedGeneration": 3, "conditions": [ready("True", "Ok")], "latestRows": 5}
    desired = {"observedGeneration": 3, "conditions": [ready("True", "Ok")], "latestRows": 6}
    assert status_changes(current, desired) == {"latestRows": 6}
    assert status_changes(current, dict(current)) == {}


def test_a_ready_transition_posts_one_event_typed_by_its_status():
    outcome = Outcome(status={"conditions": [ready("False", "DatasetNotReady", "waiting")]})
    [event] = ready_transition_events({"conditions": [ready("Unknown", "Training")]}, outcome)
    assert event == Event("Warning", "DatasetNotReady", "waiting")


def test_a_pod_that_cannot_start_is_a_warning_though_ready_is_unknown():
    outcome = Outcome(status={"conditions": [ready("Unknown", "PodCannotStart", "Unschedulable: 0/1 nodes")]})
    [event] = ready_transition_events({"conditions": [ready("Unknown", "Ingesting")]}, outcome)
    assert event == Event("Warning", "PodCannotStart", "Unschedulable: 0/1 nodes")
    [event] = ready_transition_events({}, Outcome(status={"conditions": [ready("Unknown", "Ingesting")]}))
    assert event.type == "Normal"


def test_no_event_when_ready_is_unchanged_or_already_announced():
    same = Outcome(status={"conditions": [ready("True", "Ok", "other message")]})
    assert ready_transition_events({"conditions": [ready("True", "Ok")]}, same) == []
    announced = Outcome(status={"conditions": [ready("False", "GateFailed")]})
    announced.event("Warning", "GateFailed", "accuracy 0.5 < 0.9")
    assert ready_transition_events({}, announced) == []


def test_a_child_the_api_server_refuses_stalls_the_object_and_ends_a_run():
    succeeded = {
        "type": "Succeeded",
        "status": "Unknown",
        "reason": "Training",
        "message": "",
        "lastTransitionTime": "t",
    }
    body = kopf.Body(
        {
            "apiVersion": "ballast.dev/v1alpha1",
            "kind": "TrainingRun",
            "metadata": {"name": "r", "namespace": "ml", "generation": 2},
            "spec": {},
            "status": {"conditions": [succeeded]},
        }
    )
    error = ApiException(status=422, reason="Unprocessable Entity")
    refused = ChildRefused({"kind": "Job", "metadata": {"name": "r-train"}}, error)
    conditions = refused_outcome(body, Outcome(), refused).status["conditions"]
    by_type = {c["type"]: (c["status"], c["reason"]) for c in conditions}
    assert by_type == {
        "Succeeded": ("False", "InvalidJob"),
        "Ready": ("False", "InvalidJob"),
        "Reconciling": ("False", "InvalidJob"),
        "Stalled": ("True", "InvalidJob"),
    }
    assert "refused Job r-train" in find_condition(conditions, "Stalled")["message"]


def test_a_kind_the_cluster_does_not_serve_fails_the_run_with_the_engines_reason():
    from ballast.kube import KindNotServed
    from ballast.reconcile.trainingrun import DASK_JOB

    body = kopf.Body(
        {
            "apiVersion": "ballast.dev/v1alpha1",
            "kind": "TrainingRun",
            "metadata": {"name": "r", "namespace": "ml", "generation": 1},
            "spec": {},
            "status": {"conditions": []},
        }
    )
    conditions = refused_outcome(body, Outcome(), KindNotServed(*DASK_JOB.missing)).status["conditions"]
    stalled = find_condition(conditions, "Stalled")
    assert (stalled["status"], stalled["reason"]) == ("True", "EngineNotInstalled")
    assert "daskjobs.kubernetes.dask.org" in stalled["message"]
    assert find_condition(conditions, "Ready")["status"] == "False"
