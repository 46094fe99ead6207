"""The production baseline reference (spec.reference.source productionBaseline): gathering a
window of a new Production version's traffic, recording it in status within bounds, and judging
later windows against it; on real data (breast cancer, small tumours then large ones) a model
retrained on old and new rows together keeps drifting against its training reference and is
calm against its baseline."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from ballast.api.driftpolicy import Baseline, DriftChecks, DriftPolicySpec
from ballast.drift.baseline import against_baseline, reference_from_window
from ballast.drift.checks import REFERENCE_BINS, REFERENCE_PREDICTIONS, REFERENCE_ROWS
from ballast.drift.counters import ROWS, Window, series_key
from ballast.drift.evaluation import evaluate
from ballast.drift.group_checks import REFERENCE_FAIRNESS
from ballast.reasons.driftpolicy import BASELINE_RECORDED, COLLECTING_BASELINE, Verdict
from ballast.reconcile.driftpolicy_baseline import (
    PREDICTIONS,
    baseline_step,
    baseline_target,
    record,
    reference_of,
)
from ballast.reconcile.driftpolicy_schedule import evaluate_window
from tests.badinput.cel import rule_failures
from tests.badinput.crd_schema import spec_schema, with_defaults
from tests.support import tumours
from tests.unit.test_reconcile_driftpolicy import (
    CALM,
    DRIFTING,
    NOW,
    PRODUCTION,
    condition,
    decide,
    observe,
    policy,
    watched,
)
from tests.unit.test_serving_harness import running_server, served_window, trained_model

BUCKET, CATEGORY = "ballast_feature_value_bucket", "ballast_feature_category_total"
BASELINE = {"source": "productionBaseline", "baseline": {"period": "2m", "minSamples": 200}}
STARTED = NOW - timedelta(minutes=5)


def spec(**fields) -> DriftPolicySpec:
    return DriftPolicySpec.model_validate(policy(**fields)["spec"])


def traffic(rows: float, share_low: float) -> Window:
    """One numeric feature x (buckets le 1.0 and +Inf), a categorical c, predictions of two classes."""
    return Window(
        counts={
            (ROWS, ()): rows,
            series_key(BUCKET, {"feature": "x", "le": "1.0"}): rows * share_low,
            series_key(BUCKET, {"feature": "x", "le": "+Inf"}): rows * 0.9,
            series_key("ballast_feature_missing_total", {"feature": "x"}): rows * 0.1,
            series_key(CATEGORY, {"feature": "c", "category": "a"}): rows * 0.25,
            series_key(CATEGORY, {"feature": "c", "category": "b"}): rows * 0.75,
            series_key("ballast_prediction_class_total", {"class": "0"}): rows * share_low,
            series_key("ballast_prediction_class_total", {"class": "1"}): rows * (1 - share_low),
        },
        reference={
            series_key(REFERENCE_ROWS, {}): 10_000.0,
            series_key(REFERENCE_BINS, {"feature": "x", "bin": "1.0"}): 0.5,
            series_key(REFERENCE_BINS, {"feature": "x", "bin": "+Inf"}): 0.5,
            series_key(REFERENCE_FAIRNESS, {"feature": "g", "metric": "dp", "positive_class": "1"}): 0.03,
        },
    )


def test_a_baseline_given_with_the_training_reference_is_refused_naming_the_field():
    schema = spec_schema("DriftPolicy")
    for reference, refused in (
        ({"source": "productionBaseline", "baseline": {"period": "10m"}}, False),
        ({"source": "productionBaseline"}, False),
        ({"baseline": {"period": "10m"}}, True),  # source defaults to training
    ):
        failures = rule_failures(schema, with_defaults(schema, {**policy()["spec"], "reference": reference}))
        assert [f.reported_path for f in failures] == (["spec.reference.baseline"] if refused else []), reference


# --- the distributions of a window ---------------------------------------------------------


def test_a_window_becomes_reference_ratios_in_the_servers_own_bins():
    reference = reference_from_window(traffic(1000, 0.2))
    ratio = lambda feature, bin_: reference[series_key(REFERENCE_BINS, {"feature": feature, "bin": bin_})]  # noqa: E731
    # x: 200 of 900 present values at or below 1.0 (the histogram is cumulative), 700 above
    assert ratio("x", "1.0") == pytest.approx(200 / 900)
    assert ratio("x", "+Inf") == pytest.approx(700 / 900)
    assert ratio("c", "a") == pytest.approx(0.25)
    assert reference[series_key("ballast_reference_feature_missing_ratio", {"feature": "x"})] == pytest.approx(0.1)
    assert reference[series_key(REFERENCE_PREDICTIONS, {"bin": "0"})] == pytest.approx(0.2)
    assert reference[series_key(REFERENCE_ROWS, {})] == 1000


def test_the_baseline_replaces_the_distributions_and_keeps_what_training_measured_of_the_model():
    window = traffic(1000, 0.2)
    judged = against_baseline(window, reference_from_window(window))
    assert judged.reference[series_key(REFERENCE_BINS, {"feature": "x", "bin": "1.0"})] == pytest.approx(200 / 900)
    assert judged.reference[series_key(REFERENCE_ROWS, {})] == 1000
    # fairness and error rates were measured on training's test split: they still describe the model
    assert judged.reference[series_key(REFERENCE_FAIRNESS, {"feature": "g", "metric": "dp", "positive_class": "1"})]


def test_traffic_like_the_baseline_is_calm_and_traffic_unlike_it_drifts():
    checks = DriftChecks.model_validate({"accuracy": {"enabled": False}})
    baseline = reference_from_window(traffic(1000, 0.2))
    against_training = evaluate(traffic(1000, 0.2), checks, min_samples=100, offline_accuracy=None)
    assert against_training.verdict == Verdict.DRIFT  # 0.2 below 1.0 where training had 0.5
    same = evaluate(against_baseline(traffic(800, 0.2), baseline), checks, min_samples=100, offline_accuracy=None)
    assert same.verdict == Verdict.NO_DRIFT, same.summary()
    moved = evaluate(against_baseline(traffic(800, 0.6), baseline), checks, min_samples=100, offline_accuracy=None)
    assert moved.verdict == Verdict.DRIFT, moved.summary()
    assert {check.name for check in moved.drifting} >= {"featureDrift", "predictionDrift"}


# --- status.baseline: recorded, bounded, read back -----------------------------------------


def test_the_recorded_baseline_reads_back_as_the_same_reference_to_six_digits():
    reference = reference_from_window(traffic(999, 1 / 3))
    kept = record(reference, "iris-v2", STARTED, NOW)
    assert kept.recorded_at == NOW and kept.rows == 999
    assert [d.name for d in kept.distributions or []] == ["c", "x", PREDICTIONS]
    back = reference_of(Baseline.model_validate(kept.to_wire()))  # as status gives it back
    assert back.keys() == reference.keys()
    for key, value in reference.items():
        assert back[key] == pytest.approx(value, rel=1e-5), key


def test_a_feature_with_more_bins_than_status_keeps_is_left_out_not_cut():
    counts = {series_key(CATEGORY, {"feature": "city", "category": f"c{i}"}): 1.0 for i in range(65)}
    counts |= {(ROWS, ()): 65.0, series_key(BUCKET, {"feature": "x", "le": "+Inf"}): 65.0}
    kept = record(reference_from_window(Window(counts=counts)), "iris-v2", STARTED, NOW)
    assert [d.name for d in kept.distributions or []] == ["x"]


# --- gathering, then judging ----------------------------------------------------------------


def test_the_training_reference_judges_every_window_as_before():
    step = baseline_step(spec(), None, "iris-v1", CALM, STARTED, NOW)
    assert step.judged is CALM and step.baseline is None


def test_a_new_version_gathers_until_the_period_is_over_and_the_samples_are_there():
    policy_spec = spec(reference=BASELINE)
    assert baseline_target(policy_spec).period_seconds == 120 and baseline_target(policy_spec).min_samples == 200
    first = baseline_step(policy_spec, None, "iris-v1", None, NOW, NOW)  # the first reading starts the window
    assert first.judged is None and first.baseline is not None and first.baseline.rows == 0
    early = baseline_step(policy_spec, None, "iris-v1", traffic(1000, 0.2), NOW - timedelta(seconds=60), NOW)
    small = baseline_step(policy_spec, None, "iris-v1", traffic(150, 0.2), STARTED, NOW)
    for step, rows in ((early, 1000), (small, 150)):
        assert step.judged is None and step.baseline is not None
        assert step.baseline.recorded_at is None and step.baseline.rows == rows
    done = baseline_step(policy_spec, None, "iris-v1", traffic(1000, 0.2), STARTED, NOW)
    assert done.judged is None and done.baseline is not None and done.baseline.recorded_at == NOW


def test_the_windows_after_the_baseline_are_judged_against_it_and_a_new_version_gathers_again():
    policy_spec = spec(reference=BASELINE)
    kept = record(reference_from_window(traffic(1000, 0.2)), "iris-v1", STARTED, NOW)
    step = baseline_step(policy_spec, kept, "iris-v1", traffic(500, 0.2), STARTED, NOW)
    assert step.baseline is None and step.judged is not None
    assert evaluate_window(policy_spec, PRODUCTION, step.judged).verdict == Verdict.NO_DRIFT
    promoted = baseline_step(policy_spec, kept, "iris-v2", None, NOW, NOW)
    assert promoted.judged is None and promoted.baseline is not None
    assert (promoted.baseline.model_version, promoted.baseline.recorded_at) == ("iris-v2", None)


def test_a_reconcile_that_read_nothing_gathers_nothing():
    step = baseline_step(spec(reference=BASELINE), None, "iris-v1", None, STARTED, NOW)
    assert step.judged is None and step.baseline is None


# --- the reconciler -------------------------------------------------------------------------


def test_gathering_says_so_on_drifting_and_never_fires():
    body = policy(reference=BASELINE, status=watched())
    gathering = Baseline(model_version="iris-v1", started_at=STARTED, rows=150)
    decision = decide(observe(body, baseline=gathering))
    drifting = condition(decision, "Drifting")
    assert (drifting["status"], drifting["reason"]) == ("Unknown", COLLECTING_BASELINE)
    assert "150 of 200 predictions" in drifting["message"], drifting["message"]
    status = decision.outcome.status
    assert status["verdict"] == "NotEnoughData" and status["samples"] == 150 and not status.get("firings")
    assert status["baseline"]["recordedAt"] is None, "a merge patch must delete an older version's baseline"
    assert status["baseline"]["distributions"] is None
    assert not decision.restart_window


def test_a_recorded_baseline_is_written_whole_and_starts_the_first_judged_window():
    body = policy(reference=BASELINE, status=watched())
    kept = record(reference_from_window(traffic(1000, 0.2)), "iris-v1", STARTED, NOW)
    decision = decide(observe(body, baseline=kept))
    drifting = condition(decision, "Drifting")
    assert (drifting["status"], drifting["reason"]) == ("Unknown", BASELINE_RECORDED)
    assert decision.restart_window, "the baseline's own rows must not be judged against it"
    assert Baseline.model_validate(decision.outcome.status["baseline"]) == kept


def test_after_the_baseline_a_calm_window_is_no_drift_and_a_moved_one_fires():
    kept = record(reference_from_window(CALM), "iris-v1", STARTED, NOW)
    body = policy(reference=BASELINE, status=watched(baseline=kept.to_wire()))
    policy_spec = DriftPolicySpec.model_validate(body["spec"])
    for window, verdict in ((CALM, "NoDrift"), (DRIFTING, "Drift")):
        judged = baseline_step(policy_spec, kept, "iris-v1", window, STARTED, NOW).judged
        assert judged is not None
        decision = decide(observe(body, judged))
        assert decision.outcome.status["verdict"] == verdict
        assert "baseline" not in decision.outcome.status, "a judged window leaves the baseline as it is"


# --- real data: the world after a retraining on old and new rows together -------------------


@pytest.fixture(scope="module")
def retrained_on_both_worlds(tmp_path_factory):
    both = tumours.frame()  # the Dataset's next version: the small tumours and the large ones
    schema = {"columns": tumours.COLUMNS, "target": tumours.LABEL}
    return trained_model(
        tmp_path_factory.mktemp("tumours"),
        tumours.MODEL,
        (both, schema),
        "sklearn.ensemble.RandomForestClassifier",
        {"n_estimators": 30},
    )


def test_large_tumours_drift_against_a_training_reference_of_both_worlds_and_not_against_their_baseline(
    retrained_on_both_worlds, tmp_path: Path
):
    trained, large = retrained_on_both_worlds, tumours.large()
    body = policy(reference=BASELINE, checks={"accuracy": {"enabled": False}})
    policy_spec = DriftPolicySpec.model_validate(body["spec"])
    with running_server(trained, tmp_path) as server:
        first = served_window(server, tumours.MODEL, trained.columns, large.sample(400, replace=True, random_state=1))
        later = served_window(server, tumours.MODEL, trained.columns, large.sample(400, replace=True, random_state=2))

    # the training reference (as before this field): the same traffic drifts in every window
    for window in (first, later):
        against_training = evaluate_window(spec(checks={"accuracy": {"enabled": False}}), None, window)
        assert against_training.verdict == Verdict.DRIFT, against_training.summary()
        prediction = next(c for c in against_training.checks if c.name == "predictionDrift")
        assert prediction.verdict == Verdict.DRIFT and prediction.score is not None and prediction.score > 0.25
        feature = next(c for c in against_training.checks if c.name == "featureDrift")
        print(f"\n  against training: prediction psi {prediction.score:.3f}, {feature.message}")

    recorded = baseline_step(policy_spec, None, "tumours-v2", first, STARTED, NOW).baseline
    assert recorded is not None and recorded.recorded_at is not None and recorded.rows == 400
    kept = Baseline.model_validate(recorded.to_wire())  # as status gives it back after a restart
    judged = baseline_step(policy_spec, kept, "tumours-v2", later, NOW, NOW + timedelta(minutes=1)).judged
    assert judged is not None
    calm = evaluate_window(policy_spec, None, judged)
    assert calm.verdict == Verdict.NO_DRIFT, calm.summary()
    print(f"  against the baseline: {calm.summary()}, largest feature psi {calm.max_feature_score:.3f}")
    assert {check.name: check.verdict for check in calm.checks} == {
        "featureDrift": Verdict.NO_DRIFT,
        "predictionDrift": Verdict.NO_DRIFT,
        "integrity": Verdict.NO_DRIFT,
        "errorRates": Verdict.NOT_ENOUGH_DATA,
    }
