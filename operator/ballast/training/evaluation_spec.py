"""Checks of spec.evaluation against the estimator's task and the data, made before fitting."""

from __future__ import annotations

from ballast.api.catalog import Task
from ballast.api.trainingrun import Evaluation
from ballast.training.errors import InvalidEvaluation
from ballast.training.metrics import task_metric_names

DEFAULT_PRIMARY_METRIC: dict[Task, str] = {"classification": "accuracy", "regression": "rmse"}


def primary_metric(evaluation: Evaluation, task: Task) -> str:
    return evaluation.primary_metric or DEFAULT_PRIMARY_METRIC[task]


def evaluation_problems(evaluation: Evaluation, task: Task, columns: list[str]) -> list[str]:
    allowed = task_metric_names(task)
    problems = []
    if evaluation.primary_metric and evaluation.primary_metric not in allowed:
        problems.append(f"primaryMetric {evaluation.primary_metric!r} is not a {task} metric ({', '.join(allowed)})")
    gates = evaluation.gates
    if gates is not None:
        problems += [
            f"gates.minimums.{metric}: not a {task} metric ({', '.join(allowed)})"
            for metric in sorted(gates.minimums or {})
            if metric not in allowed
        ]
        if gates.fairness is not None:
            if task != "classification":
                problems.append("gates.fairness applies to classifiers only")
            if gates.fairness.sensitive_feature not in columns:
                problems.append(
                    f"gates.fairness.sensitiveFeature {gates.fairness.sensitive_feature!r} "
                    "is not a column of the dataset"
                )
    return problems


def check_evaluation(evaluation: Evaluation, task: Task, columns: list[str]) -> None:
    problems = evaluation_problems(evaluation, task, columns)
    if problems:
        raise InvalidEvaluation("invalid evaluation: " + "; ".join(problems), tuple(problems))
