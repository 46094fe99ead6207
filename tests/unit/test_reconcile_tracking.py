"""The Tracked condition of a TrainingRun and when its run is handed to the tracker, without a
cluster or a tracking server: ballast.reconcile.tracking inside the TrainingRun's reconcile."""

import threading
from datetime import UTC, datetime, timedelta

from ballast.reconcile.trainingrun import TrainingRunObservation, reconcile_training_run
from ballast.settings import Settings
from ballast.tracking.state import TrackingAttempt, TrackingState
from ballast.tracking.tracker import Tracker
from ballast.wakeups import ObjectKey
from tests.unit.test_reconcile_trainingrun import NOW, SETTINGS, condition, dataset, finished_with, run, started

URI = "http://mlflow.example:5000"
TRACKING = Settings(dataset_wait_seconds=600, tracking_uri=URI, tracking_retry_seconds=60)
PASSED = {
    "artifact": {"uri": "file:///m/credit-risk/" + "f" * 64 + "/model.skops", "sha256": "f" * 64},
    "metrics": {"accuracy": 0.9},
    "keyMetric": {"name": "accuracy", "value": 0.9},
    "passed": True,
    "gates": [],
}


def finished(tracked=None):
    conditions = [
        {"type": t, "status": s, "reason": "Trained", "message": "", "lastTransitionTime": "2026-01-01T11:30:00Z"}
        for t, s in (("Ready", "True"), ("Succeeded", "True"))
    ]
    if tracked:
        conditions.append({"lastTransitionTime": "2026-01-01T11:31:00Z", "message": "", "type": "Tracked", **tracked})
    return run(status={**started(), "conditions": conditions})


def reconcile(body, tracking=None, settings=TRACKING, now=NOW):
    return reconcile_training_run(TrainingRunObservation(body, now, tracking=tracking), settings)


def tracked(outcome):
    return next((c for c in outcome.status["conditions"] if c["type"] == "Tracked"), None)


def test_without_a_tracking_server_nothing_is_tracked_and_no_condition_appears():
    outcome = reconcile(finished(), settings=SETTINGS)
    assert tracked(outcome) is None and not outcome.log_to_tracker and outcome.wake_at is None
    passed = reconcile_training_run(
        TrainingRunObservation(run(status=started()), NOW, dataset=dataset(), **finished_with(PASSED)), SETTINGS
    )
    assert tracked(passed) is None


def test_the_reconcile_that_finishes_a_run_queues_it_and_asks_to_look_again_at_once():
    outcome = reconcile_training_run(
        TrainingRunObservation(run(status=started()), NOW, dataset=dataset(), **finished_with(PASSED)), TRACKING
    )
    assert condition(outcome, "Succeeded")["status"] == "True"
    assert (tracked(outcome)["status"], tracked(outcome)["reason"]) == ("Unknown", "Logging")
    assert URI in tracked(outcome)["message"]
    # handed over by the next reconcile, which reads the run with this status written
    assert not outcome.log_to_tracker and outcome.wake_at == NOW


def test_a_failed_run_is_tracked_too():
    outcome = reconcile_training_run(
        TrainingRunObservation(run(status=started()), NOW, dataset=dataset(), **finished_with({"passed": False})),
        TRACKING,
    )
    assert condition(outcome, "Succeeded")["status"] == "False"
    assert tracked(outcome)["reason"] == "Logging"


def test_a_finished_run_the_tracker_does_not_know_is_handed_over():
    outcome = reconcile(finished({"status": "Unknown", "reason": "Logging"}))
    assert outcome.log_to_tracker
    # after an operator restart: a failure recorded earlier stays until an attempt ends
    outcome = reconcile(finished({"status": "False", "reason": "TrackingServerUnreachable", "message": "down"}))
    assert outcome.log_to_tracker and tracked(outcome)["reason"] == "TrackingServerUnreachable"


def test_while_an_attempt_is_under_way_nothing_is_handed_over_again():
    outcome = reconcile(finished({"status": "Unknown", "reason": "Logging"}), TrackingState(pending=True))
    assert not outcome.log_to_tracker and tracked(outcome)["status"] == "Unknown"


def test_a_logged_run_is_tracked_true_with_an_event_once_and_never_handed_over_again():
    logged = TrackingState(pending=False, last=TrackingAttempt("Logged", f"MLflow run abc at {URI}", NOW))
    outcome = reconcile(finished({"status": "Unknown", "reason": "Logging"}), logged)
    assert (tracked(outcome)["status"], tracked(outcome)["reason"]) == ("True", "Logged")
    assert [(e.type, e.reason) for e in outcome.events] == [("Normal", "Logged")]
    again = reconcile(finished({"status": "True", "reason": "Logged"}), None)  # even after a restart
    assert not again.log_to_tracker and again.events == [] and again.wake_at is None


def test_a_failed_attempt_says_why_in_the_condition_leaves_the_run_succeeded_and_is_retried_later():
    failed_at = NOW - timedelta(seconds=20)
    down = TrackingState(
        pending=False, last=TrackingAttempt("TrackingServerUnreachable", "connection refused", failed_at)
    )
    outcome = reconcile(finished({"status": "Unknown", "reason": "Logging"}), down)
    condition_now = tracked(outcome)
    assert (condition_now["status"], condition_now["reason"]) == ("False", "TrackingServerUnreachable")
    assert "connection refused" in condition_now["message"]
    assert condition(outcome, "Succeeded")["status"] == "True" and condition(outcome, "Ready")["status"] == "True"
    assert condition(outcome, "Stalled")["status"] == "False"
    assert [(e.type, e.reason) for e in outcome.events] == [("Warning", "TrackingServerUnreachable")]
    assert not outcome.log_to_tracker and outcome.wake_at == failed_at + timedelta(seconds=60)
    # at the retry time it is handed over again; the same failure posts no second Event
    later = reconcile(finished(condition_now), down, now=failed_at + timedelta(seconds=60))
    assert later.log_to_tracker and later.events == []


def test_the_tracker_logs_off_the_callers_thread_once_per_run_and_wakes_the_run():
    release, woken = threading.Event(), []
    calls = []

    def attempt(body):
        calls.append(body["metadata"]["uid"])
        release.wait(5)
        return TrackingAttempt("Logged", "ok", datetime.now(UTC))

    tracker = Tracker(attempt, woken.append)
    key, body = ObjectKey("TrainingRun", "ml", "credit-1"), finished()
    tracker.submit(key, body)
    tracker.submit(key, body)  # while the first is under way: not queued twice
    assert tracker.state("u-9") == TrackingState(pending=True)
    release.set()
    deadline = datetime.now(UTC) + timedelta(seconds=5)
    while not woken and datetime.now(UTC) < deadline:
        threading.Event().wait(0.01)
    assert woken == [key] and calls == ["u-9"]
    state = tracker.state("u-9")
    assert state is not None and not state.pending and state.last is not None and state.last.logged


def test_an_attempt_that_raises_is_recorded_as_a_failure_not_lost():
    woken = []

    def attempt(body):
        raise RuntimeError("boom")

    tracker = Tracker(attempt, woken.append)
    tracker.submit(ObjectKey("TrainingRun", "ml", "credit-1"), finished())
    deadline = datetime.now(UTC) + timedelta(seconds=5)
    while not woken and datetime.now(UTC) < deadline:
        threading.Event().wait(0.01)
    state = tracker.state("u-9")
    assert state is not None and state.last is not None and not state.last.logged and "boom" in state.last.message
