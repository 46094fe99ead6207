"""The DriftPolicy reconciler: windows judged, firings, cooldown, and retraining followed to its end."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from ballast.api.driftpolicy import DriftPolicySpec
from ballast.build.retrain import POLICY_LABEL
from ballast.conditions import find_condition, rfc3339
from ballast.drift.counters import ROWS, Window, series_key
from ballast.drift.evaluation import Evaluation
from ballast.reconcile.driftpolicy import reconcile_drift_policy
from ballast.reconcile.driftpolicy_inputs import DriftObservation, PolicyRun, parse_status
from ballast.reconcile.driftpolicy_metrics import fired_action, retrain_results, window_restarted
from ballast.reconcile.driftpolicy_schedule import evaluate_window, evaluation_due, resumed_window_start
from ballast.reconcile.outcome import Outcome
from tests.support.kstatus import kstatus_after, reconciling_and_stalled

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
OLD_DATA, NEW_DATA = "a" * 64, "b" * 64


def window(rows: float, share_low: float) -> Window:
    """One numeric feature whose training values sit half at or below 1.0, half above."""
    bucket = "ballast_feature_value_bucket"
    ratio = "ballast_reference_feature_bin_ratio"
    return Window(
        counts={
            (ROWS, ()): rows,
            series_key(bucket, {"feature": "x", "le": "1.0"}): rows * share_low,
            series_key(bucket, {"feature": "x", "le": "+Inf"}): rows,
        },
        reference={
            series_key(ratio, {"feature": "x", "bin": "1.0"}): 0.5,
            series_key(ratio, {"feature": "x", "bin": "+Inf"}): 0.5,
        },
    )


CALM, DRIFTING, TINY = window(1000, 0.5), window(1000, 0.05), window(10, 0.05)


def policy(action: dict | None = None, status: dict | None = None, **spec) -> dict:
    return {
        "apiVersion": "ballast.dev/v1alpha1",
        "kind": "DriftPolicy",
        "metadata": {"name": "iris-drift", "namespace": "ns", "uid": "u-1", "generation": 1},
        "spec": {
            "model": "iris",
            "interval": "1m",
            "cooldown": "1h",
            "window": {"minSamples": 100},
            "checks": {"predictionDrift": {"enabled": False}, "accuracy": {"enabled": False}},
            **({"action": action} if action else {}),
            **spec,
        },
        "status": status or {},
    }


RETRAIN = {
    "type": "retrain",
    "retrain": {
        "promotion": "auto",
        "maxPerDay": 2,
        "template": {
            "spec": {
                "model": "iris",
                "datasetRef": {"name": "iris"},
                "estimator": "sklearn.linear_model.LogisticRegression",
            }
        },
    },
}
PRODUCTION = {
    "metadata": {"name": "iris-v1"},
    "spec": {"source": {"dataset": {"name": "iris", "version": OLD_DATA}}},
    "status": {"metrics": {"accuracy": 0.95}},
}


def dataset(latest: str) -> dict:
    return {
        "status": {
            "latestVersion": latest,
            "versions": [
                {
                    "sha256": v,
                    "rows": 150,
                    "createdAt": rfc3339(NOW),
                    "valid": True,
                    "snapshotUri": f"file:///s/{v[:4]}",
                }
                for v in {OLD_DATA, latest}
            ],
        }
    }


def observe(body: dict, window: Window | None = None, started: datetime | None = None, **extra) -> DriftObservation:
    """As the handler observes: the window read, judged before the reconcile."""
    production = extra.pop("production", PRODUCTION)
    spec = DriftPolicySpec.model_validate(body["spec"])
    return DriftObservation(
        body=body,
        now=NOW,
        production=production,
        evaluation=evaluate_window(spec, production, window) if window is not None else None,
        window_started_at=started or NOW - timedelta(minutes=5),
        **extra,
    )


@dataclass
class Decided:
    """One reconcile as the handler reads it: the Outcome, and what it counts in the metrics."""

    outcome: Outcome
    evaluation: Evaluation | None
    fired_action: str | None
    restart_window: bool
    retrain_results: list[str]


def decide(observed: DriftObservation) -> Decided:
    outcome = reconcile_drift_policy(observed)
    return Decided(
        outcome,
        observed.evaluation,
        fired_action(outcome, DriftPolicySpec.model_validate(observed.body["spec"])),
        window_restarted(outcome, observed.now),
        retrain_results(parse_status(observed.body.get("status")), outcome),
    )


def watched(**status) -> dict:
    return {"modelVersion": "iris-v1", "lastEvaluationTime": rfc3339(NOW - timedelta(minutes=2)), **status}


def condition(decision, type: str) -> dict:
    return find_condition(decision.outcome.status["conditions"], type)


def test_a_model_with_nothing_in_production_is_waited_for_not_judged():
    decision = decide(observe(policy(), production=None))
    assert condition(decision, "Ready")["reason"] == "NoProductionVersion"
    assert condition(decision, "Drifting")["status"] == "Unknown"
    assert decision.evaluation is None and not decision.outcome.events


def test_a_new_production_version_starts_a_window_that_is_not_enough_data_yet():
    before = {"modelVersion": "iris-v0", "score": 9.1, "checks": [{"name": "featureDrift", "verdict": "Drift"}]}
    decision = decide(observe(policy(status=before), started=NOW))
    assert decision.outcome.status["modelVersion"] == "iris-v1"
    assert (decision.outcome.status["score"], decision.outcome.status["checks"]) == (None, [])  # not iris-v0's
    assert decision.outcome.status["verdict"] == "NotEnoughData"
    assert decision.outcome.status["windowStart"] == rfc3339(NOW)
    assert condition(decision, "Drifting")["status"] == "Unknown"


def test_evaluation_is_due_after_the_interval_and_for_a_new_version():
    status = parse_status(watched())
    every = {interval: DriftPolicySpec(model="iris", interval=interval) for interval in ("1m", "5m")}
    assert evaluation_due(status, every["1m"], NOW, "iris-v1")
    assert not evaluation_due(status, every["5m"], NOW, "iris-v1")
    assert evaluation_due(status, every["5m"], NOW, "iris-v2")
    assert not evaluation_due(status, every["1m"], NOW, None)


def test_training_like_traffic_does_not_fire():
    decision = decide(observe(policy(status=watched()), CALM))
    assert decision.outcome.status["verdict"] == "NoDrift"
    assert condition(decision, "Drifting")["status"] == "False"
    assert decision.fired_action is None and "firings" not in decision.outcome.status


def test_the_score_column_is_the_largest_distance_rounded_and_features_keep_every_digit():
    status = decide(observe(policy(status=watched()), DRIFTING)).outcome.status
    distances = [f["score"] for f in status["features"] if f["method"] not in ("ks", "chiSquare")]
    assert status["score"] == float(f"{max(distances):.4g}")
    assert max(distances) != status["score"]  # features[] keep the score unrounded


def test_too_few_rows_is_not_enough_data_and_never_fires():
    decision = decide(observe(policy(status=watched()), TINY))
    assert decision.outcome.status["verdict"] == "NotEnoughData"
    assert condition(decision, "Drifting")["status"] == "Unknown"
    assert decision.fired_action is None


def test_drift_with_notify_fires_once_posts_an_event_and_starts_a_new_window():
    decision = decide(observe(policy(status=watched()), DRIFTING))
    [firing] = decision.outcome.status["firings"]
    assert firing["action"] == "notify" and firing["modelVersion"] == "iris-v1" and "featureDrift" in firing["reason"]
    assert condition(decision, "Drifting")["status"] == "True"
    assert condition(decision, "Drifting")["reason"] == "FeatureDrift"
    assert [e.reason for e in decision.outcome.events] == ["DriftDetected"]
    assert decision.restart_window and decision.fired_action == "notify"
    assert decision.outcome.status["features"][0]["drifted"] is True


def test_no_second_firing_during_cooldown():
    # as the API server keeps it: with the message its schema defaults
    fired = {"time": rfc3339(NOW - timedelta(minutes=10)), "reason": "r", "action": "notify", "message": ""}
    decision = decide(observe(policy(status=watched(firings=[fired])), DRIFTING))
    assert decision.outcome.status["firings"] == [fired]
    assert "cooldown" in condition(decision, "Drifting")["message"]
    assert decision.fired_action is None and not decision.outcome.events


def test_retrain_creates_a_pinned_run_that_must_beat_the_champion():
    decision = decide(observe(policy(RETRAIN, watched()), DRIFTING, dataset=dataset(NEW_DATA)))
    [(plural, run)] = decision.outcome.create_objects
    assert plural == "trainingruns"
    assert run["spec"]["datasetRef"] == {"name": "iris", "version": NEW_DATA}
    assert run["spec"]["evaluation"]["gates"]["mustBeatChampion"] is True
    assert run["spec"]["modelVersionTemplate"]["rollout"] == {"strategy": "Canary", "autoPromote": True}
    assert run["metadata"]["labels"][POLICY_LABEL] == "iris-drift"
    assert run["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    [firing] = decision.outcome.status["firings"]
    assert (firing["trainingRun"], firing["outcome"]) == (run["metadata"]["name"], "Created")
    assert condition(decision, "Retraining")["status"] == "True"
    assert {e.reason for e in decision.outcome.events} == {"DriftDetected", "RetrainStarted"}


def test_manual_promotion_makes_the_version_wait_for_approval():
    manual = {**RETRAIN, "retrain": {**RETRAIN["retrain"], "promotion": "manual"}}
    decision = decide(observe(policy(manual, watched()), DRIFTING, dataset=dataset(NEW_DATA)))
    [(_, run)] = decision.outcome.create_objects
    assert run["spec"]["modelVersionTemplate"]["rollout"]["autoPromote"] is False


def test_retraining_waits_while_the_newest_data_is_what_the_champion_was_trained_on_then_starts():
    decision = decide(observe(policy(RETRAIN, watched()), DRIFTING, dataset=dataset(OLD_DATA)))
    [firing] = decision.outcome.status["firings"]
    assert firing["outcome"] == "WaitingForData" and not decision.outcome.create_objects
    later = decide(observe(policy(RETRAIN, watched(firings=[firing])), None, dataset=dataset(NEW_DATA)))
    [(_, run)] = later.outcome.create_objects
    assert later.outcome.status["firings"][0]["trainingRun"] == run["metadata"]["name"]
    assert later.outcome.status["firings"][0]["time"] == firing["time"]  # the same firing, not a second one


def run_state(name: str = "iris-drift-20261127115500", **fields) -> PolicyRun:
    return PolicyRun(name=name, created_at=NOW - timedelta(minutes=5), **fields)


def in_flight(outcome: str = "Created") -> dict:
    return {
        "time": rfc3339(NOW - timedelta(minutes=5)),
        "reason": "r",
        "action": "retrain",
        "trainingRun": "iris-drift-20261127115500",
        "outcome": outcome,
        "message": "",
    }


def test_a_retraining_in_flight_holds_back_new_firings_even_after_cooldown():
    body = policy(RETRAIN, watched(firings=[in_flight("Training")]), cooldown="1m")
    decision = decide(observe(body, DRIFTING, runs=[run_state()], dataset=dataset(NEW_DATA)))
    assert not decision.outcome.create_objects and len(decision.outcome.status["firings"]) == 1
    assert "in flight" in condition(decision, "Drifting")["message"]


def test_a_retrained_model_that_does_not_beat_the_champion_is_not_promoted_and_the_policy_says_so():
    run = run_state(
        finished=True,
        succeeded=False,
        reason="GateFailed",
        message="gate failed: accuracy 0.91 is not better than the champion's 0.95",
    )
    decision = decide(observe(policy(RETRAIN, watched(firings=[in_flight("Training")])), runs=[run]))
    firing = decision.outcome.status["firings"][0]
    assert firing["outcome"] == "NotPromoted" and "champion" in firing["message"]
    assert condition(decision, "Retraining")["reason"] == "NotPromoted"
    assert [e.reason for e in decision.outcome.events] == ["RetrainRejected"]
    assert decision.retrain_results == ["rejected"]


@pytest.mark.parametrize(
    "stage, outcome, result",
    [
        ("Canary", "RollingOut", []),
        ("Production", "Promoted", ["promoted"]),
        ("RolledBack", "RolledBack", ["rolledBack"]),
    ],
)
def test_a_passed_retraining_is_followed_through_its_rollout(stage, outcome, result):
    run = run_state(finished=True, succeeded=True, reason="Trained", model_version="iris-v2")
    decision = decide(
        observe(policy(RETRAIN, watched(firings=[in_flight("Training")])), runs=[run], stages={"iris-v2": stage})
    )
    assert decision.outcome.status["firings"][0]["outcome"] == outcome
    assert decision.retrain_results == result


def test_the_daily_cap_turns_a_firing_into_a_notification():
    runs = [run_state(f"r{i}", finished=True, succeeded=True) for i in range(2)]
    old = [
        {
            "time": rfc3339(NOW - timedelta(hours=2)),
            "reason": "r",
            "action": "retrain",
            "trainingRun": f"r{i}",
            "outcome": "Promoted",
        }
        for i in range(2)
    ]
    decision = decide(observe(policy(RETRAIN, watched(firings=old)), DRIFTING, runs=runs, dataset=dataset(NEW_DATA)))
    assert not decision.outcome.create_objects
    assert "maxPerDay" in decision.outcome.status["firings"][0]["message"]
    assert "RetrainCapped" in {e.reason for e in decision.outcome.events}


def test_a_run_whose_firing_never_reached_status_is_adopted_not_created_again():
    orphan = run_state(firing_reason="featureDrift: 1 of 1 features drifted")
    decision = decide(observe(policy(RETRAIN, watched()), DRIFTING, runs=[orphan], dataset=dataset(NEW_DATA)))
    assert not decision.outcome.create_objects
    [firing] = decision.outcome.status["firings"]
    assert firing["trainingRun"] == orphan.name and firing["outcome"] == "Training"


def test_an_unreachable_prometheus_is_a_reason_on_ready_and_no_counts_is_not_enough_data():
    down = decide(
        observe(policy(status=watched()), None, window_problem=("PrometheusUnreachable", "connection refused"))
    )
    assert (condition(down, "Ready")["status"], condition(down, "Ready")["reason"]) == (
        "False",
        "PrometheusUnreachable",
    )
    assert condition(down, "Drifting")["status"] == "Unknown"
    quiet = decide(
        observe(policy(status=watched()), None, window_problem=("PrometheusNoData", "no counts in the window"))
    )
    assert condition(quiet, "Ready")["status"] == "True"
    assert quiet.outcome.status["verdict"] == "NotEnoughData"
    assert quiet.outcome.status["lastEvaluationTime"] == rfc3339(NOW)  # retried after the interval, not at once


def test_a_reconcile_that_reads_nothing_keeps_what_the_last_read_found():
    """Between evaluations the timer still runs: an unreachable Prometheus must not flap Ready."""
    failed = decide(
        observe(policy(status=watched()), None, window_problem=("PrometheusUnreachable", "connection refused"))
    )
    between = decide(observe(policy(status=watched(conditions=failed.outcome.status["conditions"]))))
    assert (condition(between, "Ready")["status"], condition(between, "Ready")["reason"]) == (
        "False",
        "PrometheusUnreachable",
    )


def test_a_restarted_operator_resumes_the_prometheus_window_that_status_names():
    spec = DriftPolicySpec.model_validate({"model": "m", "window": {"period": "10m"}})
    started = NOW - timedelta(minutes=4)
    status = parse_status({"modelVersion": "m-1", "windowStart": rfc3339(started)})
    assert resumed_window_start(status, spec, NOW, "m-1") == started
    # down for longer than a period: one full period back, judged at once
    old = parse_status({"modelVersion": "m-1", "windowStart": rfc3339(NOW - timedelta(hours=3))})
    assert resumed_window_start(old, spec, NOW, "m-1") == NOW - timedelta(minutes=10)
    # another version in Production now, or no window yet: a new window starts
    assert resumed_window_start(status, spec, NOW, "m-2") is None
    assert resumed_window_start(parse_status({"modelVersion": "m-1"}), spec, NOW, "m-1") is None
    # a clock behind the recorded start never gives a window that ends before it starts
    assert resumed_window_start(status, spec, started - timedelta(seconds=30), "m-1") == started - timedelta(seconds=30)


def _with_image(image: str) -> dict:
    template = RETRAIN["retrain"]["template"]
    return {**RETRAIN, "retrain": {**RETRAIN["retrain"], "template": {"spec": {**template["spec"], "image": image}}}}


def test_a_template_naming_a_disallowed_image_creates_no_run_and_says_which_field():
    """The operator creates the retrain run itself: a template must not get an image run that
    its author could not run by creating the TrainingRun directly."""
    from ballast.build.policy import IMAGE_NOT_ALLOWED
    from ballast.settings import Settings

    closed = Settings()  # custom images off, as the chart ships
    body = policy(_with_image("docker.io/evil/miner:1"), watched())
    decision = decide(observe(body, DRIFTING, dataset=dataset(NEW_DATA), settings=closed))
    assert decision.outcome.create_objects == []
    ready = condition(decision, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", IMAGE_NOT_ALLOWED)
    assert "spec.action.retrain.template.spec.image" in ready["message"]
    [firing] = decision.outcome.status["firings"]
    assert firing["outcome"] == "Failed" and "spec.action.retrain.template.spec.image" in firing["message"]
    assert IMAGE_NOT_ALLOWED in {e.reason for e in decision.outcome.events if e.type == "Warning"}
    # said before the policy ever fires, too
    calm = decide(observe(body, CALM, dataset=dataset(NEW_DATA), settings=closed))
    assert condition(calm, "Ready")["reason"] == IMAGE_NOT_ALLOWED and calm.outcome.create_objects == []
    # the same template once the administrator allows the prefix: the run is created
    opened = Settings(custom_images_enabled=True, custom_image_prefixes=("docker.io/evil/",))
    allowed = decide(observe(body, DRIFTING, dataset=dataset(NEW_DATA), settings=opened))
    [(_, run)] = allowed.outcome.create_objects
    assert run["spec"]["image"] == "docker.io/evil/miner:1" and condition(allowed, "Ready")["status"] == "True"


def test_a_waiting_firing_is_not_turned_into_a_run_once_the_image_is_no_longer_allowed():
    from ballast.settings import Settings

    body = policy(
        _with_image("docker.io/evil/miner:1"),
        watched(
            firings=[
                {
                    "time": rfc3339(NOW - timedelta(minutes=10)),
                    "reason": "drift",
                    "action": "retrain",
                    "modelVersion": "iris-v1",
                    "outcome": "WaitingForData",
                    "message": "",
                }
            ]
        ),
    )
    decision = decide(observe(body, None, dataset=dataset(NEW_DATA), settings=Settings()))
    assert decision.outcome.create_objects == []
    assert decision.outcome.status["firings"][0]["outcome"] == "Failed"


# --- when the policy runs again, and what the handler counts --------------------------------------


def test_a_policy_sleeps_until_its_next_evaluation():
    read = reconcile_drift_policy(observe(policy(status=watched()), CALM))
    assert read.wake_at == NOW + timedelta(minutes=1)  # interval 1m after this read
    recent = watched(lastEvaluationTime=rfc3339(NOW - timedelta(seconds=30)))
    between = reconcile_drift_policy(observe(policy(status=recent)))
    assert between.wake_at == NOW + timedelta(seconds=30)  # an interval after the last read


def test_an_evaluation_due_but_not_made_is_tried_again_after_the_shortest_interval():
    overdue = watched(lastEvaluationTime=rfc3339(NOW - timedelta(hours=1)))
    skipped = reconcile_drift_policy(observe(policy(status=overdue)))
    assert skipped.wake_at == NOW + timedelta(seconds=2)


def test_a_model_with_nothing_in_production_waits_for_an_event_not_a_time():
    assert reconcile_drift_policy(observe(policy(), production=None)).wake_at is None


def test_a_firing_starts_the_window_status_names_so_a_restarted_operator_resumes_after_it():
    fired = reconcile_drift_policy(observe(policy(status=watched()), DRIFTING, started=NOW - timedelta(minutes=5)))
    assert fired.status["windowStart"] == rfc3339(NOW)
    calm = reconcile_drift_policy(observe(policy(status=watched()), CALM, started=NOW - timedelta(minutes=5)))
    assert calm.status["windowStart"] == rfc3339(NOW - timedelta(minutes=5)) and not window_restarted(calm, NOW)


def test_a_full_period_rolls_the_window_over_without_a_firing():
    body = policy(status=watched(), window={"minSamples": 100, "period": "10m"})
    judged = decide(observe(body, CALM, started=NOW - timedelta(minutes=10)))
    assert judged.restart_window and judged.fired_action is None
    assert judged.outcome.status["verdict"] == "NoDrift"


def test_a_capped_retrain_counts_as_a_retrain_firing_and_a_deleted_run_as_failed():
    runs = [run_state(f"r{i}", finished=True, succeeded=True) for i in range(2)]
    old = [
        {"time": rfc3339(NOW - timedelta(hours=2)), "reason": "r", "action": "retrain", "trainingRun": f"r{i}"}
        | {"outcome": "Promoted"}
        for i in range(2)
    ]
    capped = decide(observe(policy(RETRAIN, watched(firings=old)), DRIFTING, runs=runs, dataset=dataset(NEW_DATA)))
    assert capped.fired_action == "retrain" and not capped.outcome.create_objects
    gone = decide(observe(policy(RETRAIN, watched(firings=[in_flight("Training")]))))
    assert gone.outcome.status["firings"][0]["outcome"] == "Missing" and gone.retrain_results == ["failed"]
    again = decide(observe(policy(RETRAIN, watched(firings=gone.outcome.status["firings"]))))
    assert again.retrain_results == []  # counted once, when it ended


@pytest.mark.parametrize("counters", [CALM, TINY, DRIFTING], ids=["calm", "tiny", "drifting"])
def test_a_judged_window_is_written_as_the_api_server_keeps_it_and_then_not_again(counters):
    """Times at the second, camelCase, unset results left out: read back and reconciled again
    with nothing new, the policy's status has nothing to change."""
    from dataclasses import replace

    from ballast.handlers.apply import status_changes

    mid_second = NOW + timedelta(microseconds=654321)
    judged = reconcile_drift_policy(replace(observe(policy(status=watched()), counters), now=mid_second)).status
    assert judged["lastEvaluationTime"] == rfc3339(NOW)
    assert (
        {"name", "method", "drifted"}
        <= set(judged["features"][0])
        <= {"name", "method", "score", "threshold", "drifted"}
    )
    assert all(None not in entry.values() for entry in [*judged["checks"], *judged["features"]])
    started = datetime.fromisoformat(judged["windowStart"])
    again = reconcile_drift_policy(observe(policy(status=judged), started=started))
    assert status_changes(judged, again.status) == {}


def test_a_policy_waits_for_production_watches_and_drifting_is_still_watching():
    assert reconciling_and_stalled(decide(observe(policy(), production=None)).outcome.status) == ("True", "False")
    assert reconciling_and_stalled(decide(observe(policy(status=watched()), TINY)).outcome.status) == ("False", "False")
    drifting = decide(observe(policy(status=watched()), DRIFTING))
    assert condition(drifting, "Drifting")["status"] == "True"
    assert reconciling_and_stalled(drifting.outcome.status) == ("False", "False")


def test_a_policy_that_cannot_read_its_window_has_failed_until_it_can():
    unread = decide(observe(policy(status=watched()), window_problem=("PrometheusUnreachable", "connection refused")))
    assert reconciling_and_stalled(unread.outcome.status) == ("False", "True")
    assert condition(unread, "Stalled")["reason"] == "PrometheusUnreachable"
    read = decide(observe(policy(status=unread.outcome.status), TINY))
    assert reconciling_and_stalled(read.outcome.status) == ("False", "False")


@pytest.mark.tools
def test_kstatus_reads_a_waiting_policy_as_in_progress_a_drifting_one_as_current_and_an_unread_one_as_failed():
    waiting = policy()
    assert kstatus_after(waiting, reconcile_drift_policy(observe(waiting, production=None)).status) == "InProgress"
    watching = policy(status=watched())
    drifting = reconcile_drift_policy(observe(watching, DRIFTING))
    assert find_condition(drifting.status["conditions"], "Drifting")["status"] == "True"
    assert kstatus_after(watching, drifting.status) == "Current"
    unread = reconcile_drift_policy(observe(watching, window_problem=("PrometheusUnreachable", "connection refused")))
    assert kstatus_after(watching, unread.status) == "Failed"
