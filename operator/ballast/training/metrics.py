"""Offline metrics of a fitted model on held-out rows.

Classification: precision, recall and f1 are for the positive class when there are two classes
(the last of the sorted labels: 1 of 0/1, True of False, "yes" of "no"), and the unweighted
(macro) mean over classes when there are more. roc_auc is one-vs-rest macro for more than two
classes. A metric that cannot be computed is left out and its reason given in `skipped`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn import metrics as skm

from ballast.api.catalog import CLASSIFICATION_METRICS, REGRESSION_METRICS, Task


@dataclass(frozen=True)
class MetricValues:
    values: dict[str, float]
    skipped: dict[str, str] = field(default_factory=dict)


def positive_class(classes: np.ndarray) -> Any:
    return classes[-1]


def _finite(values: dict[str, float], skipped: dict[str, str]) -> MetricValues:
    kept = {name: float(value) for name, value in values.items() if math.isfinite(value)}
    skipped = dict(skipped)
    for name in values.keys() - kept.keys():
        skipped[name] = "not a finite number on this test split"
    return MetricValues(values=kept, skipped=skipped)


def classification_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray | None, classes: np.ndarray
) -> MetricValues:
    binary = len(classes) == 2
    averaging: dict[str, Any] = (
        {"average": "binary", "pos_label": positive_class(classes)}
        if binary
        else {"average": "macro", "labels": classes}
    )
    values = {
        "accuracy": skm.accuracy_score(y_true, y_pred),
        "precision": skm.precision_score(y_true, y_pred, zero_division=0, **averaging),
        "recall": skm.recall_score(y_true, y_pred, zero_division=0, **averaging),
        "f1": skm.f1_score(y_true, y_pred, zero_division=0, **averaging),
    }
    skipped: dict[str, str] = {}
    if proba is None:
        for name in ("roc_auc", "log_loss"):
            skipped[name] = "the model has no predict_proba"
    else:
        values["log_loss"] = skm.log_loss(y_true, proba, labels=classes)
        if len(np.unique(y_true)) < 2:
            skipped["roc_auc"] = "undefined: the test split holds a single class"
            return _finite(values, skipped)
        try:
            if binary:
                values["roc_auc"] = skm.roc_auc_score(y_true == positive_class(classes), proba[:, 1])
            else:
                values["roc_auc"] = skm.roc_auc_score(y_true, proba, multi_class="ovr", average="macro", labels=classes)
        except ValueError as error:
            skipped["roc_auc"] = f"undefined on this test split: {error}"
    return _finite(values, skipped)


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> MetricValues:
    return _finite(
        {
            "rmse": skm.root_mean_squared_error(y_true, y_pred),
            "mae": skm.mean_absolute_error(y_true, y_pred),
            "r2": skm.r2_score(y_true, y_pred),
        },
        {},
    )


def task_metric_names(task: Task) -> tuple[str, ...]:
    return CLASSIFICATION_METRICS if task == "classification" else REGRESSION_METRICS


def predict_proba_or_none(model: Any, features: Any) -> np.ndarray | None:
    return model.predict_proba(features) if hasattr(model, "predict_proba") else None


def task_metrics(
    task: Task, y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray | None, classes: np.ndarray | None
) -> MetricValues:
    """All metrics of `task` from a model's answers (a classifier's probabilities and classes too)."""
    if task == "regression":
        return regression_metrics(y_true, y_pred)
    assert classes is not None
    return classification_metrics(y_true, y_pred, proba, classes)


def evaluate_model(model: Any, features: Any, y_true: np.ndarray, task: Task) -> MetricValues:
    """All metrics of `task` for a fitted model (a pipeline taking the feature frame)."""
    y_pred = model.predict(features)
    if task == "regression":
        return task_metrics(task, y_true, y_pred, None, None)
    return task_metrics(task, y_true, y_pred, predict_proba_or_none(model, features), np.asarray(model.classes_))
