"""Build an estimator from the allow-list, with its params checked before anything is fitted.

The class is imported only by a path that is a key of `ballast.api.catalog.ESTIMATORS`, so a
TrainingRun can never make the trainer import an arbitrary module.
"""

from __future__ import annotations

import difflib
import importlib
from typing import Any

from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import InvalidParameterError, validate_parameter_constraints

from ballast.api.catalog import ESTIMATORS, Task
from ballast.training import lightgbm_params
from ballast.training.errors import InvalidEstimator

# Set from spec.seed so that a run is reproducible from its spec; a second source would conflict.
SEEDED_PARAM = "random_state"

# Params Ballast sets itself on every estimator of a family (the class's top-level package), so
# that the same spec gives the same bytes; a TrainingRun may not set them.
PINNED_PARAMS: dict[str, dict[str, Any]] = {lightgbm_params.FAMILY: lightgbm_params.PINNED_PARAMS}


# Ballast serves and measures a classifier's class probabilities (prediction-score drift, roc_auc,
# log_loss, the canary's comparison), so a classifier must have predict_proba. SGDClassifier's own
# default loss, hinge, gives none: Ballast's default is log_loss, and a run may choose
# modified_huber, the other loss with probabilities.
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {"sklearn.linear_model.SGDClassifier": {"loss": "log_loss"}}


def estimator_family(cls: type) -> str:
    """The package that makes the estimator (sklearn, lightgbm): its version decides the model."""
    return cls.__module__.partition(".")[0]


def estimator_task(class_path: str) -> Task:
    try:
        return ESTIMATORS[class_path]
    except KeyError:
        raise InvalidEstimator(
            f"estimator {class_path!r} is not in Ballast's allow-list; use one of: {', '.join(sorted(ESTIMATORS))}"
        ) from None


def estimator_class(class_path: str) -> type[BaseEstimator]:
    estimator_task(class_path)
    module_name, _, class_name = class_path.rpartition(".")
    return getattr(importlib.import_module(module_name), class_name)


def _unknown_param_problem(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown parameter {name!r}{hint}"


def param_problems(cls: type[BaseEstimator], params: dict[str, Any]) -> list[str]:
    """Everything wrong with `params` for `cls`, one line each; empty when they are all valid.

    Each value is checked on its own against the estimator's `_parameter_constraints` (the
    rules scikit-learn applies at fit time), so one bad value does not hide the next one.
    Rules that span several params (a solver that does not support a penalty) are still only
    known at fit time. LightGBM declares no constraints: its values are checked by
    `lightgbm_params.LightGBMParams` instead.
    """
    known = sorted(cls().get_params(deep=False))
    constraints: dict[str, Any] = getattr(cls, "_parameter_constraints", {})
    pinned = PINNED_PARAMS.get(estimator_family(cls), {})
    problems: list[str] = []
    for name, value in sorted(params.items()):
        if name == SEEDED_PARAM:
            problems.append(f"{SEEDED_PARAM!r} is set from spec.seed; set the seed there instead")
        elif name in pinned and value != pinned[name]:
            # the pinned value itself is accepted, so a run's recorded params can be replayed
            problems.append(
                f"{name!r} is set by Ballast to {pinned[name]!r} so that the same spec trains the same model"
            )
        elif name not in known and name not in pinned:
            problems.append(_unknown_param_problem(name, known))
        elif name in constraints:
            try:
                validate_parameter_constraints({name: constraints[name]}, {name: value}, caller_name=cls.__name__)
            except InvalidParameterError as error:
                problems.append(str(error))
    if estimator_family(cls) == lightgbm_params.FAMILY:
        problems.extend(lightgbm_params.lightgbm_param_problems(params))
    return problems


def build_estimator(class_path: str, params: dict[str, Any] | None, seed: int) -> BaseEstimator:
    """An unfitted estimator of an allow-listed class, with validated params and the run's seed."""
    cls = estimator_class(class_path)
    params = dict(params or {})
    problems = param_problems(cls, params)
    if problems:
        raise InvalidEstimator(f"invalid params for {class_path}: " + "; ".join(problems), tuple(problems))
    estimator = cls(**{**DEFAULT_PARAMS.get(class_path, {}), **params, **PINNED_PARAMS.get(estimator_family(cls), {})})
    if SEEDED_PARAM in estimator.get_params(deep=False):
        estimator.set_params(**{SEEDED_PARAM: seed})
    if ESTIMATORS[class_path] == "classification" and not hasattr(estimator, "predict_proba"):
        problem = (
            f"{class_path} with these params gives no class probabilities (predict_proba), which Ballast "
            "serves and measures; for SGDClassifier set loss to 'log_loss' (the default) or 'modified_huber'"
        )
        raise InvalidEstimator(f"invalid params for {class_path}: {problem}", (problem,))
    return estimator
