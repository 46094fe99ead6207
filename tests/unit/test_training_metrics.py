"""Metrics and fairness measures, checked against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as skm

from ballast.training.fairness import demographic_parity_difference, equal_opportunity_difference, fairness_metrics
from ballast.training.metrics import classification_metrics, evaluate_model, regression_metrics


def test_binary_metrics_score_the_positive_class() -> None:
    y_true = np.array([0, 0, 0, 1, 1, 1, 1, 1])
    y_pred = np.array([0, 1, 0, 1, 1, 0, 1, 1])
    proba = np.column_stack([1 - y_pred * 0.8, y_pred * 0.8])
    scored = classification_metrics(y_true, y_pred, proba, np.array([0, 1]))
    # Positive class 1: TP 4, FP 1, FN 1.
    assert scored.values["accuracy"] == pytest.approx(6 / 8)
    assert scored.values["precision"] == pytest.approx(4 / 5)
    assert scored.values["recall"] == pytest.approx(4 / 5)
    assert scored.values["f1"] == pytest.approx(4 / 5)
    assert scored.values["roc_auc"] == pytest.approx(skm.roc_auc_score(y_true, proba[:, 1]))
    assert scored.values["log_loss"] == pytest.approx(skm.log_loss(y_true, proba))


def test_string_binary_labels_use_the_last_sorted_label_as_positive() -> None:
    classes = np.array(["no", "yes"], dtype=object)
    y_true = np.array(["yes", "yes", "no", "no"], dtype=object)
    y_pred = np.array(["yes", "no", "no", "no"], dtype=object)
    scored = classification_metrics(y_true, y_pred, None, classes)
    assert scored.values["recall"] == pytest.approx(0.5)  # one of two "yes" found
    assert scored.values["precision"] == pytest.approx(1.0)


def test_multiclass_metrics_are_macro_averaged() -> None:
    y_true = np.array([0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 0])
    proba = np.eye(3)[y_pred] * 0.7 + 0.1
    scored = classification_metrics(y_true, y_pred, proba, np.array([0, 1, 2]))
    # Per class precision: 1/2, 2/3, 1 -> macro 13/18; recall: 1/2, 1, 1/2 -> 2/3.
    assert scored.values["precision"] == pytest.approx(13 / 18)
    assert scored.values["recall"] == pytest.approx(2 / 3)
    assert scored.values["roc_auc"] == pytest.approx(
        skm.roc_auc_score(y_true, proba, multi_class="ovr", average="macro")
    )


def test_probabilistic_metrics_are_skipped_with_a_reason_without_predict_proba() -> None:
    class LabelsOnly:
        classes_ = np.array([0, 1])

        def predict(self, features):
            return np.asarray(features)[:, 0]

    scored = evaluate_model(LabelsOnly(), np.array([[0], [1], [1]]), np.array([0, 1, 0]), "classification")
    assert "roc_auc" not in scored.values and "log_loss" not in scored.values
    assert scored.skipped == {"roc_auc": "the model has no predict_proba", "log_loss": "the model has no predict_proba"}
    assert scored.values["accuracy"] == pytest.approx(2 / 3)


def test_roc_auc_is_skipped_when_the_test_split_has_one_class() -> None:
    scored = classification_metrics(
        np.array([1, 1]), np.array([1, 0]), np.array([[0.2, 0.8], [0.6, 0.4]]), np.array([0, 1])
    )
    assert scored.skipped["roc_auc"] == "undefined: the test split holds a single class"
    assert "roc_auc" not in scored.values


def test_regression_metrics() -> None:
    y_true = np.array([1.0, 2.0, 3.0, 4.0])
    y_pred = np.array([1.0, 3.0, 3.0, 2.0])
    scored = regression_metrics(y_true, y_pred)
    assert scored.values["mae"] == pytest.approx(3 / 4)
    assert scored.values["rmse"] == pytest.approx(math.sqrt(5 / 4))
    assert scored.values["r2"] == pytest.approx(1 - 5 / 5)


# Hand-computed example: two groups of the sensitive feature, positive class 1.
#   group a: y_true 1 1 0 0, y_pred 1 0 1 0 -> positive rate 2/4, true-positive rate 1/2
#   group b: y_true 1 1 1 0, y_pred 1 1 1 1 -> positive rate 4/4, true-positive rate 3/3
Y_TRUE = np.array([1, 1, 0, 0, 1, 1, 1, 0])
Y_PRED = np.array([1, 0, 1, 0, 1, 1, 1, 1])
GROUPS = np.array(["a", "a", "a", "a", "b", "b", "b", "b"], dtype=object)


def test_demographic_parity_difference_by_hand() -> None:
    assert demographic_parity_difference(Y_PRED, GROUPS, 1) == pytest.approx(1.0 - 0.5)


def test_equal_opportunity_difference_by_hand() -> None:
    assert equal_opportunity_difference(Y_TRUE, Y_PRED, GROUPS, 1) == pytest.approx(1.0 - 0.5)


def test_missing_sensitive_values_form_their_own_group() -> None:
    groups = np.array(["a", "a", None, None], dtype=object)
    # a: 2 positive of 2; missing: 0 of 2.
    assert demographic_parity_difference(np.array([1, 1, 0, 0]), groups, 1) == pytest.approx(1.0)


def test_equal_treatment_scores_zero() -> None:
    assert fairness_metrics(np.array([1, 0, 1, 0]), np.array([1, 0, 1, 0]), np.array(["x", "x", "y", "y"]), 1) == {
        "demographic_parity_difference": 0.0,
        "equal_opportunity_difference": 0.0,
    }
