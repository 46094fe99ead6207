"""A blockwise run's result in the single-pod run's terms (ballast.training.run.TrainingOutcome),
so that the artifact, metrics, gates, lineage and model card are written the same way."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from ballast.api.catalog import Task
from ballast.api.trainingrun import Evaluation, TrainingRunSpec
from ballast.models.skops_format import serialize_model
from ballast.training.blockwise.orchestrate import BlockwiseFit
from ballast.training.features import FeatureColumns
from ballast.training.gates import ChampionScore
from ballast.training.host_state import strip_host_specific_state
from ballast.training.judgement import champion_score, judge
from ballast.training.preprocessing import MODEL_STEP, describe_preprocessing
from ballast.training.reproducibility import json_safe
from ballast.training.run import DatasetIdentity, TrainingOutcome, check_round_trip, run_record


def blockwise_outcome(
    spec: TrainingRunSpec,
    fit: BlockwiseFit,
    *,
    task: Task,
    metric: str,
    columns: FeatureColumns,
    dataset: DatasetIdentity,
    block_rows: int,
    fit_seconds: float,
    sample: pd.DataFrame,
    champion_problem: str | None = None,
    environment: Mapping[str, str] | None = None,
) -> TrainingOutcome:
    """sample: feature rows (a block's) the saved model must predict exactly as the fitted one."""
    evaluation = spec.evaluation or Evaluation()
    pipeline = fit.pipeline
    strip_host_specific_state(pipeline)
    champion: ChampionScore | None = None
    if evaluation.gates is not None and evaluation.gates.must_beat_champion:
        if champion_problem is not None:
            champion = ChampionScore(value=None, problem=champion_problem)
        elif fit.champion is not None:
            champion = champion_score(fit.champion, task, metric)
    judged = judge(fit.held_out, task, evaluation, metric, champion)
    artifact = serialize_model(pipeline)
    check_round_trip(artifact, pipeline, sample)
    params = json_safe(pipeline.named_steps[MODEL_STEP].get_params(deep=False))
    gates = evaluation.gates
    return TrainingOutcome(
        task=task,
        pipeline=pipeline,
        artifact=artifact,
        metrics=judged.metrics,
        skipped_metrics=judged.skipped,
        key_metric=metric,
        gates=judged.gates,
        params=params,
        reproducibility={
            **run_record(spec, dataset, params, judged.metrics, environment),
            # with the data and the seed, these decide the model: the same three, the same bytes
            "blockwise": {"blockRows": block_rows, "epochs": fit.epochs},
        },
        columns=columns,
        classes=json_safe(list(pipeline.classes_)) if task == "classification" else None,
        train_rows=fit.stats.train_rows,
        test_rows=fit.stats.test_rows,
        dropped_rows=fit.stats.unlabelled_rows,
        fit_seconds=fit_seconds,
        preprocessing=describe_preprocessing(pipeline),
        sensitive_feature=gates.fairness.sensitive_feature if gates is not None and gates.fairness else None,
        fairness_unavailable=judged.fairness_unavailable,
        error_rates=judged.error_rates,
    )
