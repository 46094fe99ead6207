"""A fitted linear model's predict and predict_proba in plain numpy, from one matrix product.

scikit-learn's own methods validate their input on every call (about 0.07 ms, most of a
one-row request) and predict and predict_proba each compute the decision function again. The
compiled pipeline's matrix is already float64 of the right width, so here the scores are
computed once, with the same arithmetic as the estimator (`x @ coef_.T + intercept_`), and the
labels and probabilities derived from them as its own methods derive them. Only finiteness is
still checked, as scikit-learn would refuse the row.

`linear_outputs` answers None for any estimator or setting it does not mirror; build_predictor
keeps this path only when it matches the pipeline bit for bit on the probe batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.special import expit
from sklearn.linear_model import (
    ElasticNet,
    Lasso,
    LinearRegression,
    LogisticRegression,
    Ridge,
    SGDClassifier,
    SGDRegressor,
)

Outputs = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray | None]]
"""The feature matrix to (labels or values, probabilities or None)."""

LINEAR_REGRESSORS = (LinearRegression, Ridge, Lasso, ElasticNet, SGDRegressor)
NOT_FINITE = "Input X contains infinity or a value too large for dtype('float64')."
"""scikit-learn's own words for the refusal, which the service turns into a 400."""


def _checked(x: np.ndarray) -> np.ndarray:
    if not np.isfinite(x).all():
        raise ValueError(NOT_FINITE)
    return x


def _softmax(scores: np.ndarray) -> np.ndarray:
    """sklearn.utils.extmath.softmax, in place."""
    scores -= scores.max(axis=1).reshape(-1, 1)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=1).reshape(-1, 1)
    return scores


def _one_vs_rest(scores: np.ndarray) -> np.ndarray:
    """LinearClassifierMixin._predict_proba_lr: the logistic of each score, normalised over classes."""
    probabilities = expit(scores, out=scores)
    if probabilities.ndim == 1:
        return np.stack([1 - probabilities, probabilities], axis=1)
    total = probabilities.sum(axis=1)
    all_zero = total == 0
    if all_zero.any():
        probabilities[all_zero, :] = 1
        total[all_zero] = probabilities.shape[1]
    probabilities /= total.reshape(probabilities.shape[0], -1)
    return probabilities


def _classifier(estimator: Any, probabilities_of: Callable[[np.ndarray], np.ndarray]) -> Outputs:
    coef_t = estimator.coef_.T
    intercept = estimator.intercept_
    classes = estimator.classes_

    def outputs(x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        scores = _checked(x) @ coef_t + intercept
        if scores.shape[1] == 1:
            scores = scores.reshape(-1)
            indices = (scores > 0).astype(np.intp)
        else:
            indices = scores.argmax(axis=1)
        labels = classes.take(indices, axis=0)
        return labels, probabilities_of(scores)

    return outputs


def _regressor(estimator: Any) -> Outputs:
    coef = estimator.coef_
    intercept = estimator.intercept_
    return lambda x: (_checked(x) @ coef + intercept, None)


def linear_outputs(estimator: Any) -> Outputs | None:
    """The fast outputs of `estimator`, or None when it is not a linear model mirrored here."""
    coef = getattr(estimator, "coef_", None)
    if not isinstance(coef, np.ndarray) or coef.dtype != np.float64:
        return None
    if type(estimator) is LogisticRegression:
        binary = len(estimator.classes_) <= 2
        return _classifier(estimator, _one_vs_rest if binary else _softmax)
    if type(estimator) is SGDClassifier and estimator.loss == "log_loss":
        return _classifier(estimator, _one_vs_rest)
    if type(estimator) in LINEAR_REGRESSORS and coef.ndim == 1:
        return _regressor(estimator)
    return None
