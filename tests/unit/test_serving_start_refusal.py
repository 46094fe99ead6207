"""A serving pod whose model server refuses its model at start-up (it writes {"reason",
"message"} to its termination log, ballast.runtime.serve) makes the ModelVersion Ready False
with that reason and a Warning, instead of Deploying for ever while the pod crash-loops."""

from __future__ import annotations

import json

import pytest

from ballast.handlers.apply import ready_transition_events
from ballast.reconcile.jobs import StartRefusal, pod_cannot_start, serving_start_refusal
from ballast.reconcile.modelversion import reconcile_model_version
from ballast.reconcile.serving import DeploymentState
from ballast.runtime.serve import termination_message
from tests.unit.test_reconcile_serving import NOW, OK, SETTINGS, ready, version

REFUSAL = termination_message(
    "InvalidModelStructure",
    "tree 0 of the forest: a child index is out of range; the artifact was altered after training",
).decode()


def crash_looping(message: str, ready: bool = False) -> dict:
    """A container's status between two restarts: waiting in back-off, its last run's end kept."""
    return {
        "containerStatuses": [
            {
                "name": "server",
                "ready": ready,
                "restartCount": 3,
                "state": {
                    "waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s restarting failed container"}
                },
                "lastState": {"terminated": {"exitCode": 2, "reason": "Error", "message": message}},
            }
        ]
    }


def just_ended(message: str) -> dict:
    return {
        "containerStatuses": [
            {
                "name": "server",
                "ready": False,
                "state": {"terminated": {"exitCode": 2, "reason": "Error", "message": message}},
            }
        ]
    }


@pytest.mark.parametrize(
    "reason",
    [
        "InvalidModelStructure",
        "UntrustedArtifact",
        "DigestMismatch",
        "ArtifactTooLarge",
        "UnsafeArchive",
        "FeedbackTokenUnreadable",
    ],
)
def test_a_start_up_refusal_is_read_from_the_servers_termination_message(reason):
    message = termination_message(reason, "why").decode()
    assert serving_start_refusal(crash_looping(message)) == StartRefusal(reason, "why")
    assert serving_start_refusal(just_ended(message)) == StartRefusal(reason, "why")
    # and it is not mistaken for a pod that cannot start at all
    assert pod_cannot_start(crash_looping(message)) is None


@pytest.mark.parametrize(
    "status",
    [
        {},
        crash_looping("Traceback (most recent call last): ..."),  # FallbackToLogsOnError: the log, not a verdict
        crash_looping(termination_message("StoreUnavailable", "the store timed out").decode()),  # may pass
        crash_looping('{"reason": "InvalidModelStructure"'),  # cut short: not JSON
        crash_looping(REFUSAL, ready=True),  # a container that came up after all
        {"containerStatuses": [{"name": "server", "ready": False, "state": {"running": {}}}]},
    ],
)
def test_anything_else_is_not_a_refusal(status):
    assert serving_start_refusal(status) is None


def test_a_long_message_is_cut_short():
    refusal = serving_start_refusal(crash_looping(termination_message("UntrustedArtifact", "x" * 3000).decode()))
    assert refusal.reason == "UntrustedArtifact" and len(refusal.message) <= 401


def test_a_refusing_pod_makes_the_version_ready_false_with_the_reason_and_one_warning():
    refusal = serving_start_refusal(crash_looping(REFUSAL))
    refused = reconcile_model_version(
        version(), OK, NOW, siblings=[], deployment=DeploymentState(0), settings=SETTINGS, start_refusal=refusal
    )
    assert (ready(refused)["status"], ready(refused)["reason"]) == ("False", "InvalidModelStructure")
    assert "refused the model at start-up" in ready(refused)["message"]
    assert "altered after training" in ready(refused)["message"]
    assert [(e.type, e.reason) for e in ready_transition_events({}, refused)] == [("Warning", "InvalidModelStructure")]
    again = reconcile_model_version(
        version(conditions=refused.status["conditions"]),
        OK,
        NOW,
        siblings=[],
        deployment=DeploymentState(0),
        settings=SETTINGS,
        start_refusal=refusal,
    )
    assert ready_transition_events({"conditions": refused.status["conditions"]}, again) == []
    # a refusal outranks a pod that cannot start: the server's reason is the one a person acts on
    both = reconcile_model_version(
        version(),
        OK,
        NOW,
        siblings=[],
        deployment=DeploymentState(0),
        settings=SETTINGS,
        start_refusal=refusal,
        pod_problem="Unschedulable: no node",
    )
    assert ready(both)["reason"] == "InvalidModelStructure"


def test_a_version_already_serving_stays_serving_while_one_new_pod_refuses():
    refusal = StartRefusal("DigestMismatch", "the file changed")
    serving = reconcile_model_version(
        version(stage="Production"),
        OK,
        NOW,
        siblings=[],
        deployment=DeploymentState(2),
        settings=SETTINGS,
        start_refusal=refusal,
    )
    assert ready(serving)["reason"] == "Serving"


def test_the_server_writes_what_the_operator_reads():
    document = json.loads(REFUSAL)
    assert set(document) == {"reason", "message"}
