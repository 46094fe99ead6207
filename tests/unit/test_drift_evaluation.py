"""A policy's evaluation of one window: below window.minSamples every check waits for data."""

from __future__ import annotations

import pytest

from ballast.api.driftpolicy import DriftChecks
from ballast.drift.checks import CONFUSION, MAX_PROBABILITY_COUNT, MAX_PROBABILITY_SUM
from ballast.drift.counters import ROWS, Window, series_key
from ballast.drift.evaluation import evaluate
from ballast.drift.group_checks import GROUP_PREDICTIONS, REFERENCE_ERROR_RATES, REFERENCE_FAIRNESS
from ballast.reasons.driftpolicy import Check, Verdict

BUCKET, RATIO = "ballast_feature_value_bucket", "ballast_reference_feature_bin_ratio"
PREDICTED, PREDICTION_RATIO = "ballast_prediction_class_total", "ballast_reference_prediction_bin_ratio"


def labelled_window(rows: float, correct: float = 0.95) -> Window:
    """Training-like traffic whose every row came back labelled, mostly right, from two groups
    of a sensitive feature `s` that get the same share of each class."""
    groups = {
        series_key(GROUP_PREDICTIONS, {"feature": "s", "group": group, "predicted_class": label}): rows / 4
        for group in ("g1", "g2")
        for label in ("a", "b")
    }
    trained_rates = {
        series_key(REFERENCE_ERROR_RATES, {"class": label, "rate": rate}): 0.05
        for label in ("a", "b")
        for rate in ("falsePositive", "falseNegative")
    }
    confusion = {
        series_key(CONFUSION, {"true_class": "a", "predicted_class": "a"}): rows / 2,
        series_key(CONFUSION, {"true_class": "b", "predicted_class": "b"}): rows / 2 - rows * (1 - correct),
        series_key(CONFUSION, {"true_class": "b", "predicted_class": "a"}): rows * (1 - correct),
    }
    return Window(
        counts={
            (ROWS, ()): rows,
            series_key(BUCKET, {"feature": "x", "le": "1.0"}): rows / 2,
            series_key(BUCKET, {"feature": "x", "le": "+Inf"}): rows,
            series_key(PREDICTED, {"class": "a"}): rows / 2,
            series_key(PREDICTED, {"class": "b"}): rows / 2,
            (MAX_PROBABILITY_COUNT, ()): rows,
            (MAX_PROBABILITY_SUM, ()): rows * 0.95,
            **confusion,
            **groups,
        },
        reference={
            series_key(RATIO, {"feature": "x", "bin": "1.0"}): 0.5,
            series_key(RATIO, {"feature": "x", "bin": "+Inf"}): 0.5,
            series_key(PREDICTION_RATIO, {"bin": "a"}): 0.5,
            series_key(PREDICTION_RATIO, {"bin": "b"}): 0.5,
            series_key(
                REFERENCE_FAIRNESS, {"feature": "s", "metric": "demographic_parity_difference", "positive_class": "b"}
            ): 0.02,
            **trained_rates,
        },
    )


EVERY_CHECK = DriftChecks.model_validate(
    {"estimatedAccuracy": {"enabled": True}, "fairness": {"sensitiveFeature": "s"}}
)


def test_labels_alone_do_not_say_no_drift_below_min_samples():
    """135 labelled rows are enough labels (minLabels 100) but fewer rows than minSamples 150:
    the docs promise NotEnoughData, and the accuracy check used to answer NoDrift alone."""
    evaluation = evaluate(labelled_window(135), None, min_samples=150, offline_accuracy=0.95)
    assert evaluation.verdict == Verdict.NOT_ENOUGH_DATA, evaluation.summary()
    accuracy = next(check for check in evaluation.checks if check.name == Check.ACCURACY)
    assert accuracy.verdict == Verdict.NOT_ENOUGH_DATA and "135 rows, fewer than 150" in accuracy.message


@pytest.mark.parametrize("check", list(Check))
def test_every_check_waits_for_min_samples_rows(check):
    evaluation = evaluate(labelled_window(135), EVERY_CHECK, min_samples=150, offline_accuracy=0.95)
    assert {c.name: c.verdict for c in evaluation.checks}[check] == Verdict.NOT_ENOUGH_DATA


@pytest.mark.parametrize("check", list(Check))
def test_every_check_judges_once_the_window_holds_min_samples_rows(check):
    evaluation = evaluate(labelled_window(150), EVERY_CHECK, min_samples=150, offline_accuracy=0.95)
    assert {c.name: c.verdict for c in evaluation.checks}[check] == Verdict.NO_DRIFT
    assert evaluation.verdict == Verdict.NO_DRIFT


def test_enough_rows_but_too_few_labels_is_not_enough_data_for_accuracy_only():
    window = labelled_window(1000)
    evaluation = evaluate(
        window, DriftChecks.model_validate({"accuracy": {"minLabels": 2000}}), min_samples=150, offline_accuracy=0.95
    )
    verdicts = {c.name: c.verdict for c in evaluation.checks}
    assert verdicts[Check.ACCURACY] == Verdict.NOT_ENOUGH_DATA
    assert verdicts[Check.FEATURE_DRIFT] == Verdict.NO_DRIFT and evaluation.verdict == Verdict.NO_DRIFT


def test_checks_left_out_run_with_the_models_defaults():
    """Estimated accuracy is opt-in and fairness needs its feature named; the other five run when
    spec.checks says nothing (errorRates when training recorded the rates)."""
    names = [c.name for c in evaluate(labelled_window(1000), None, min_samples=150, offline_accuracy=0.95).checks]
    assert names == [Check.FEATURE_DRIFT, Check.PREDICTION_DRIFT, Check.INTEGRITY, Check.ACCURACY, Check.ERROR_RATES]
    off = DriftChecks.model_validate({"integrity": {"enabled": False}})
    assert Check.INTEGRITY not in [
        c.name for c in evaluate(labelled_window(1000), off, min_samples=1, offline_accuracy=None).checks
    ]
