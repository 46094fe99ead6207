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
from ballast.training.errors import InvalidEstimator

# Set from spec.seed so that a run is reproducible from its spec; a second source would conflict.
SEEDED_PARAM = "random_state"


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
    known at fit time.
    """
    known = sorted(cls().get_params(deep=False))
    constraints: dict[str, Any] = getattr(cls, "_parameter_constraints", {})
    problems: list[str] = []
    for name, value in sorted(params.items()):
        if name == SEEDED_PARAM:
            problems.append(f"{SEEDED_PARAM!r} is set from spec.seed; set the seed there instead")
        elif name not in known:
            problems.append(_unknown_param_problem(name, known))
        elif name in constraints:
            try:
                validate_parameter_constraints({name: constraints[name]}, {name: value}, caller_name=cls.__name__)
            except InvalidParameterError as error:
                problems.append(str(error))
    return problems


def build_estimator(class_path: str, params: dict[str, Any] | None, seed: int) -> BaseEstimator:
    """An unfitted estimator of an allow-listed class, with validated params and the run's seed."""
    cls = estimator_class(class_path)
    params = dict(params or {})
    problems = param_problems(cls, params)
    if problems:
        raise InvalidEstimator(f"invalid params for {class_path}: " + "; ".join(problems), tuple(problems))
    estimator = cls(**params)
    if SEEDED_PARAM in estimator.get_params(deep=False):
        estimator.set_params(**{SEEDED_PARAM: seed})
    return estimator
