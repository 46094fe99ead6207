"""The held-out rows' predictions turned into the run's metrics, error rates, fairness and gate
results: one place for a single-pod run and a blockwise one, which gather the same arrays in
different ways."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ballast.api.catalog import Task
from ballast.api.trainingrun import Evaluation, GateResult
from ballast.training.error_rates import error_rates_by_class
from ballast.training.fairness import fairness_metrics
from ballast.training.gates import ChampionScore, evaluate_gates
from ballast.training.metrics import MetricValues, positive_class, task_metrics


@dataclass(frozen=True)
class HeldOut:
    """The test split's true values and the model's answers, row for row."""

    y_true: np.ndarray
    y_pred: np.ndarray
    proba: np.ndarray | None = None
    """A classifier's class probabilities, columns in the order of `classes`."""
    classes: np.ndarray | None = None
    """A classifier's classes_."""
    sensitive: np.ndarray | None = None
    """The values of the fairness gate's column, when it names one."""


@dataclass(frozen=True)
class Judgement:
    metrics: dict[str, float]
    """Performance metrics and, when the fairness gate applies, fairness metrics."""
    skipped: dict[str, str]
    error_rates: dict[str, dict[str, float]]
    gates: list[GateResult]
    fairness_unavailable: str | None = None


def judge(
    held_out: HeldOut, task: Task, evaluation: Evaluation, metric: str, champion: ChampionScore | None
) -> Judgement:
    scored = _scored(held_out, task)
    metrics = dict(scored.values)
    error_rates = error_rates_by_class(held_out.y_true, held_out.y_pred) if task == "classification" else {}
    fairness: dict[str, float] = {}
    fairness_unavailable = None
    gates = evaluation.gates
    if gates is not None and gates.fairness is not None and held_out.classes is not None:
        if len(held_out.classes) != 2:
            fairness_unavailable = f"fairness metrics need two classes, the target has {len(held_out.classes)}"
        else:
            positive: Any = positive_class(held_out.classes)
            fairness = fairness_metrics(held_out.y_true, held_out.y_pred, held_out.sensitive, positive)
            metrics.update(fairness)
    results = evaluate_gates(gates, metric, scored.values, scored.skipped, fairness, fairness_unavailable, champion)
    return Judgement(metrics, scored.skipped, error_rates, results, fairness_unavailable)


def _scored(held_out: HeldOut, task: Task) -> MetricValues:
    return task_metrics(task, held_out.y_true, held_out.y_pred, held_out.proba, held_out.classes)


def champion_score(champion: HeldOut, task: Task, metric: str) -> ChampionScore:
    """The champion's primary metric from its answers on this run's held-out rows."""
    return champion_score_of(_scored(champion, task), metric)


def champion_score_of(scored: MetricValues, metric: str) -> ChampionScore:
    """The champion's primary metric among its metrics, or why it has none."""
    if metric not in scored.values:
        return ChampionScore(value=None, problem=f"no {metric}: {scored.skipped.get(metric, 'not computed')}")
    return ChampionScore(value=scored.values[metric])
