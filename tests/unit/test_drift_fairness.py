"""Fairness and error rates by class: the math on counts, and the fairness and errorRates checks."""

from __future__ import annotations

import numpy as np
import pytest

from ballast.api.driftpolicy import DriftChecks, ErrorRatesCheck, FairnessCheck
from ballast.drift.checks import CONFUSION
from ballast.drift.counters import ROWS, Window, series_key
from ballast.drift.evaluation import evaluate
from ballast.drift.group_checks import (
    GROUP_FEEDBACK,
    GROUP_PREDICTIONS,
    REFERENCE_ERROR_RATES,
    REFERENCE_FAIRNESS,
    REFERENCE_FOLDED_GROUPS,
    error_rates,
    fairness,
)
from ballast.drift.group_rates import (
    class_error_rates,
    confusion_of,
    demographic_parity_gap,
    equal_opportunity_gap,
)
from ballast.reasons.driftpolicy import Check, Verdict
from ballast.training.error_rates import error_rates_by_class
from ballast.training.fairness import demographic_parity_difference, equal_opportunity_difference

# --- the math ---------------------------------------------------------------------------------


def _by_group(groups, y_true, y_pred):
    predictions: dict[str, dict[str, float]] = {}
    feedback: dict[str, dict[tuple[str, str], float]] = {}
    for group, true, predicted in zip(groups, y_true, y_pred):
        by_class = predictions.setdefault(group, {})
        by_class[predicted] = by_class.get(predicted, 0.0) + 1
        confusion = feedback.setdefault(group, {})
        confusion[(true, predicted)] = confusion.get((true, predicted), 0.0) + 1
    return predictions, feedback


@pytest.mark.parametrize("seed", range(5))
def test_counted_gaps_equal_trainings_measure_on_the_same_rows(seed) -> None:
    rng = np.random.default_rng(seed)
    groups = rng.choice(["a", "b", "c"], 400).tolist()
    y_true = rng.choice(["0", "1"], 400).tolist()
    y_pred = rng.choice(["0", "1"], 400).tolist()
    predictions, feedback = _by_group(groups, y_true, y_pred)
    parity = demographic_parity_gap(predictions, "1")
    opportunity = equal_opportunity_gap(feedback, "1")
    assert parity.difference == pytest.approx(demographic_parity_difference(y_pred, groups, "1"), abs=1e-12)
    assert opportunity.difference == pytest.approx(equal_opportunity_difference(y_true, y_pred, groups, "1"), abs=1e-12)


def test_parity_gap_by_hand_and_small_groups_left_out() -> None:
    predictions = {"a": {"1": 80, "0": 20}, "b": {"1": 30, "0": 70}, "tiny": {"1": 0, "0": 5}}
    gap = demographic_parity_gap(predictions, "1", min_rows=30)
    assert gap.difference == pytest.approx(0.5)
    assert set(gap.rates) == {"a", "b"} and gap.extremes == ("b", "a") and gap.judged_rows == 200
    # with the tiny group in, its 0% rate makes the gap 0.8
    assert demographic_parity_gap(predictions, "1").difference == pytest.approx(0.8)
    assert demographic_parity_gap({"a": {"1": 5}}, "1").difference is None


def test_equal_opportunity_counts_labelled_positives_only() -> None:
    feedback = {
        "a": {("1", "1"): 45, ("1", "0"): 5, ("0", "1"): 50},  # TPR 0.9; false alarms do not count
        "b": {("1", "1"): 30, ("1", "0"): 20, ("0", "0"): 50},  # TPR 0.6
        "c": {("0", "0"): 100},  # no positive: no TPR
    }
    gap = equal_opportunity_gap(feedback, "1")
    assert gap.difference == pytest.approx(0.3) and set(gap.rates) == {"a", "b"}


def test_error_rates_by_class_one_vs_rest() -> None:
    confusion = {("x", "x"): 40, ("x", "y"): 10, ("y", "y"): 45, ("y", "x"): 5, ("__unseen__", "x"): 10}
    rates = class_error_rates(confusion, ["x", "y"])
    assert rates["x"].false_negative_rate == pytest.approx(10 / 50)
    assert rates["x"].false_positive_rate == pytest.approx(15 / 60)  # y->x and the unseen label
    assert rates["y"].false_negative_rate == pytest.approx(5 / 50)
    assert rates["y"].false_positive_rate == pytest.approx(10 / 60)
    assert class_error_rates({("x", "x"): 3}, ["x"])["x"].false_positive_rate is None


def test_training_records_the_same_rates_the_check_counts() -> None:
    y_true = [0, 0, 0, 1, 1, 1, 1]
    y_pred = [0, 1, 0, 1, 0, 1, 1]
    recorded = error_rates_by_class(np.array(y_true), np.array(y_pred))
    assert recorded == {
        "0": {"falsePositive": pytest.approx(1 / 4), "falseNegative": pytest.approx(1 / 3)},
        "1": {"falsePositive": pytest.approx(1 / 3), "falseNegative": pytest.approx(1 / 4)},
    }
    assert confusion_of(y_true, y_pred)[("1", "0")] == 1


# --- the checks ---------------------------------------------------------------------------------


def group_window(positive_rates: dict[str, float], rows_per_group: float = 300, **extra) -> Window:
    counts = {(ROWS, ()): rows_per_group * len(positive_rates)}
    for group, rate in positive_rates.items():
        for predicted, share in (("1", rate), ("0", 1 - rate)):
            labels = {"feature": "sex", "group": group, "predicted_class": predicted}
            counts[series_key(GROUP_PREDICTIONS, labels)] = rows_per_group * share
    counts.update(extra.get("counts", {}))
    reference = {
        series_key(REFERENCE_FAIRNESS, {"feature": "sex", "metric": metric, "positive_class": "1"}): value
        for metric, value in extra.get("trained", {"demographic_parity_difference": 0.05}).items()
    }
    reference[series_key(REFERENCE_FOLDED_GROUPS, {"feature": "sex"})] = extra.get("folded", 0)
    return Window(counts=counts, reference=reference)


def test_fairness_fires_when_one_group_loses_positive_predictions() -> None:
    check = FairnessCheck(sensitive_feature="sex")
    fair = fairness(group_window({"f": 0.40, "m": 0.42}), check, 500)
    unfair = fairness(group_window({"f": 0.15, "m": 0.42}), check, 500)
    assert fair.verdict == Verdict.NO_DRIFT and fair.score == pytest.approx(0.02)
    assert unfair.verdict == Verdict.DRIFT and unfair.name == Check.FAIRNESS
    assert unfair.score == pytest.approx(0.27) and unfair.threshold == pytest.approx(0.15)  # training 0.05 + 0.1
    assert "'f' and 'm'" in unfair.message and "equal opportunity waits for 100 labels" in unfair.message


def test_fairness_takes_the_stricter_limit_and_says_groups_were_folded() -> None:
    check = FairnessCheck(sensitive_feature="sex", max_demographic_parity_difference=0.08)
    outcome = fairness(group_window({"f": 0.30, "m": 0.40}, folded=3), check, 500)
    assert outcome.verdict == Verdict.DRIFT and outcome.threshold == pytest.approx(0.08)
    assert "3 groups folded into __other__" in outcome.message


def test_fairness_judges_equal_opportunity_once_labels_came_back() -> None:
    feedback = {}
    for group, tpr in (("f", 0.5), ("m", 0.9)):
        for predicted, share in (("1", tpr), ("0", 1 - tpr)):
            labels = {"feature": "sex", "group": group, "true_class": "1", "predicted_class": predicted}
            feedback[series_key(GROUP_FEEDBACK, labels)] = 100 * share
    window = group_window(
        {"f": 0.40, "m": 0.42},
        counts=feedback,
        trained={"demographic_parity_difference": 0.05, "equal_opportunity_difference": 0.1},
    )
    outcome = fairness(window, FairnessCheck(sensitive_feature="sex"), 500)
    assert outcome.verdict == Verdict.DRIFT
    assert outcome.score == pytest.approx(0.4) and outcome.threshold == pytest.approx(0.2)
    assert "equal opportunity" in outcome.message


def test_fairness_waits_for_rows_and_errs_on_a_feature_the_server_does_not_count() -> None:
    assert fairness(group_window({"f": 0.1, "m": 0.9}, 100), FairnessCheck(sensitive_feature="sex"), 500).verdict == (
        Verdict.NOT_ENOUGH_DATA
    )
    other = fairness(group_window({"f": 0.1, "m": 0.9}), FairnessCheck(sensitive_feature="age"), 500)
    assert other.verdict == Verdict.ERROR and "gates.fairness.sensitiveFeature" in other.message


def labelled(confusion: dict[tuple[str, str], float], rows: float = 1000) -> dict:
    return {
        (ROWS, ()): rows,
        **{series_key(CONFUSION, {"true_class": t, "predicted_class": p}): n for (t, p), n in confusion.items()},
    }


TRAINED_RATES = {
    series_key(REFERENCE_ERROR_RATES, {"class": label, "rate": kind}): rate
    for label, kind, rate in (
        ("0", "falsePositive", 0.05),
        ("0", "falseNegative", 0.05),
        ("1", "falsePositive", 0.05),
        ("1", "falseNegative", 0.05),
    )
}


def test_rising_false_negatives_fire_error_rates_while_accuracy_holds() -> None:
    # 900 negatives all right; 100 positives of which 30 missed: accuracy 0.97, FNR of "1" 0.3
    window = Window(
        counts=labelled({("0", "0"): 900, ("1", "1"): 70, ("1", "0"): 30}),
        reference={**TRAINED_RATES},
    )
    outcome = error_rates(window, ErrorRatesCheck(), 500)
    assert outcome.verdict == Verdict.DRIFT and outcome.name == Check.ERROR_RATES
    assert outcome.score == pytest.approx(0.3) and outcome.threshold == pytest.approx(0.15)
    assert "false negative rate of '1'" in outcome.message
    evaluation = evaluate(window, DriftChecks(), min_samples=500, offline_accuracy=0.95)
    verdicts = {check.name: check.verdict for check in evaluation.checks}
    assert verdicts[Check.ACCURACY] == Verdict.NO_DRIFT and verdicts[Check.ERROR_RATES] == Verdict.DRIFT


def test_error_rates_hold_and_wait() -> None:
    steady = Window(counts=labelled({("0", "0"): 480, ("0", "1"): 20, ("1", "1"): 480, ("1", "0"): 20}))
    steady = Window(counts=steady.counts, reference={**TRAINED_RATES})
    assert error_rates(steady, ErrorRatesCheck(), 500).verdict == Verdict.NO_DRIFT
    few = Window(counts=labelled({("0", "0"): 50}), reference={**TRAINED_RATES})
    assert error_rates(few, ErrorRatesCheck(), 500).verdict == Verdict.NOT_ENOUGH_DATA
    # a class with fewer labels than minClassLabels is not judged on its own rate
    lopsided = Window(counts=labelled({("0", "0"): 990, ("1", "0"): 10}), reference={**TRAINED_RATES})
    outcome = error_rates(lopsided, ErrorRatesCheck(), 500)
    assert outcome.verdict == Verdict.NO_DRIFT and "false negative rate of '1'" not in outcome.message


def test_error_rates_are_left_out_for_a_model_without_recorded_rates_unless_asked() -> None:
    window = Window(counts=labelled({("0", "0"): 900, ("1", "0"): 100}))
    names = [c.name for c in evaluate(window, DriftChecks(), min_samples=500, offline_accuracy=0.9).checks]
    assert Check.ERROR_RATES not in names
    asked = DriftChecks.model_validate({"errorRates": {}})
    outcome = next(
        c for c in evaluate(window, asked, min_samples=500, offline_accuracy=0.9).checks if c.name == "errorRates"
    )
    assert outcome.verdict == Verdict.ERROR
