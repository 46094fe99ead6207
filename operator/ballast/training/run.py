"""One training run, start to finish, without Kubernetes or the artifact store.

Data frame and schema in; fitted pipeline, its canonical skops bytes, metrics, gates and the
reproducibility record out. `ballast.runtime.train` reads the inputs and writes the outputs.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline
from sklearn.utils._param_validation import InvalidParameterError

from ballast.api.catalog import Task
from ballast.api.dataset import DatasetSchema
from ballast.api.trainingrun import Evaluation, GateResult, TrainingRunSpec
from ballast.models.skops_format import SerializedModel, load_model, serialize_model
from ballast.training.errors import InvalidEstimator
from ballast.training.estimators import build_estimator, estimator_task
from ballast.training.evaluation_spec import check_evaluation, primary_metric
from ballast.training.feature_pipeline import check_feature_steps, check_feature_values
from ballast.training.features import FeatureColumns, feature_columns, feature_frame
from ballast.training.gates import ChampionScore
from ballast.training.host_state import strip_host_specific_state
from ballast.training.judgement import HeldOut, champion_score_of, judge
from ballast.training.metrics import evaluate_model, predict_proba_or_none
from ballast.training.preprocessing import MODEL_STEP, build_pipeline, describe_preprocessing
from ballast.training.reproducibility import json_safe, reproducibility_record
from ballast.training.split import split_indices
from ballast.training.target import labelled_rows

MAX_RECORDED_WARNINGS = 20


@dataclass(frozen=True)
class DatasetIdentity:
    name: str
    sha256: str
    snapshot_uri: str | None = None
    profile_sha256: str | None = None
    metadata_sha256: str | None = None
    """The digests pinning the version's profile.json and metadata.json, when recorded."""


def run_record(
    spec: TrainingRunSpec,
    dataset: DatasetIdentity,
    params: dict[str, Any],
    metrics: dict[str, float],
    environment: Mapping[str, str] | None,
) -> dict[str, Any]:
    """The run's reproducibility record: what went into the model, and the dataset's digests."""
    return {
        **reproducibility_record(
            dataset_name=dataset.name,
            dataset_sha256=dataset.sha256,
            estimator=spec.estimator,
            params=params,
            seed=spec.seed,
            test_fraction=(spec.evaluation or Evaluation()).test_fraction,
            metrics=metrics,
            environment=environment or {},
        ),
        **dataset_digests(dataset),
    }


def dataset_digests(dataset: DatasetIdentity) -> dict[str, str]:
    """The profile's and metadata's sha256, for the record: the model server reads the profile
    (its drift bins) later and must find these very bytes."""
    digests = {"datasetProfileSha256": dataset.profile_sha256, "datasetMetadataSha256": dataset.metadata_sha256}
    return {key: value for key, value in digests.items() if value}


@dataclass(frozen=True)
class TrainingOutcome:
    task: Task
    pipeline: Pipeline
    artifact: SerializedModel
    metrics: dict[str, float]
    """Performance metrics and, when a sensitive feature is named, fairness metrics."""
    skipped_metrics: dict[str, str]
    key_metric: str
    gates: list[GateResult]
    params: dict[str, Any]
    """The estimator's full get_params() as fitted, JSON-safe."""
    reproducibility: dict[str, Any]
    columns: FeatureColumns
    classes: list[Any] | None
    train_rows: int
    test_rows: int
    dropped_rows: int
    fit_seconds: float
    warnings: list[str] = field(default_factory=list)
    feature_steps: list[dict[str, Any]] = field(default_factory=list)
    """spec.featureSteps as declared (wire form), which the fitted preprocessing realises."""
    preprocessing: list[dict[str, Any]] = field(default_factory=list)
    """The fitted preprocessing steps by column group (preprocessing.describe_preprocessing)."""
    sensitive_feature: str | None = None
    """The column the fairness metrics compare groups of, when the fairness gate names one."""
    fairness_unavailable: str | None = None
    """Why fairness was not measured although the gate asked for it."""
    error_rates: dict[str, dict[str, float]] = field(default_factory=dict)
    """A classifier's false positive and false negative rate of each class on the test split
    (ballast.drift.group_rates), what the errorRates drift check compares production with."""

    @property
    def passed(self) -> bool:
        return all(gate.passed for gate in self.gates)

    @property
    def key_metric_value(self) -> float | None:
        return self.metrics.get(self.key_metric)

    @property
    def failed_gates(self) -> list[GateResult]:
        return [gate for gate in self.gates if not gate.passed]


def _fit(pipeline: Pipeline, features: pd.DataFrame, target: pd.Series) -> tuple[float, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        started = time.perf_counter()
        try:
            pipeline.fit(features, target)
        except InvalidParameterError as error:
            raise InvalidEstimator(f"invalid params: {error}", (str(error),)) from None
        elapsed = time.perf_counter() - started
    messages = list(dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught))
    return elapsed, messages[:MAX_RECORDED_WARNINGS]


def _champion_score(
    champion: Any, features: pd.DataFrame, target: np.ndarray, task: Task, metric: str
) -> ChampionScore:
    try:
        scored = evaluate_model(champion, features, target, task)
    except Exception as error:  # noqa: BLE001 - any failure of a foreign model fails the gate, not the run
        return ChampionScore(value=None, problem=f"{type(error).__name__}: {error}")
    return champion_score_of(scored, metric)


def check_round_trip(artifact: SerializedModel, pipeline: Pipeline, features: pd.DataFrame) -> None:
    """The bytes must load with Ballast's trusted types and predict exactly like the fitted model,
    so a model that the registry or the server would refuse never leaves the training Job."""
    loaded = load_model(artifact.data, artifact.sha256)
    if not np.array_equal(loaded.predict(features), pipeline.predict(features)):
        raise RuntimeError("the saved model predicts differently from the fitted one")


@dataclass(frozen=True)
class CheckedSpec:
    evaluation: Evaluation
    task: Task
    estimator: BaseEstimator
    metric: str
    """The primary metric."""


def checked_spec(spec: TrainingRunSpec, column_names: list[str]) -> CheckedSpec:
    """Everything a person can get wrong in the spec, refused before any data is touched (a
    single-pod run and a blockwise one alike); column_names: the data's columns."""
    evaluation = spec.evaluation or Evaluation()
    task = estimator_task(spec.estimator)
    estimator = build_estimator(spec.estimator, spec.params, spec.seed)
    check_evaluation(evaluation, task, column_names)
    return CheckedSpec(evaluation, task, estimator, primary_metric(evaluation, task))


def train_model(
    spec: TrainingRunSpec,
    frame: pd.DataFrame,
    schema: DatasetSchema,
    dataset: DatasetIdentity,
    champion: Any | None = None,
    champion_problem: str | None = None,
    environment: Mapping[str, str] | None = None,
) -> TrainingOutcome:
    """Train, evaluate and gate one run.

    `champion` is the current Production model, already verified and loaded; `champion_problem`
    says why it could not be loaded (the mustBeatChampion gate then fails with that reason).
    With neither, the model is the first of its name and has no champion to beat.
    """
    checked = checked_spec(spec, [str(c) for c in frame.columns])
    evaluation, task, estimator, metric = checked.evaluation, checked.task, checked.estimator, checked.metric

    columns = feature_columns(schema)
    feature_steps = spec.feature_steps or []
    check_feature_steps(feature_steps, columns)
    rows = labelled_rows(frame, schema, task)
    features = feature_frame(rows.frame, columns)
    check_feature_values(feature_steps, features)
    target = rows.target
    split = split_indices(target, evaluation.test_fraction, spec.seed, stratify=task == "classification")
    train_x, test_x = features.iloc[split.train], features.iloc[split.test]
    train_y, test_y = target.iloc[split.train], target.iloc[split.test].to_numpy()

    pipeline = build_pipeline(spec.estimator, estimator, columns, feature_steps)
    fit_seconds, fit_warnings = _fit(pipeline, train_x, train_y)
    strip_host_specific_state(pipeline)
    gates = evaluation.gates
    fairness_column = gates.fairness.sensitive_feature if gates is not None and gates.fairness else None
    classifier = task == "classification"
    held_out = HeldOut(
        y_true=test_y,
        y_pred=pipeline.predict(test_x),
        proba=predict_proba_or_none(pipeline, test_x) if classifier else None,
        classes=np.asarray(pipeline.classes_) if classifier else None,
        sensitive=rows.frame[fairness_column].iloc[split.test].to_numpy() if fairness_column else None,
    )
    champion_score = None
    if gates is not None and gates.must_beat_champion:
        if champion_problem is not None:
            champion_score = ChampionScore(value=None, problem=champion_problem)
        elif champion is not None:
            champion_score = _champion_score(champion, test_x, test_y, task, metric)
    judged = judge(held_out, task, evaluation, metric, champion_score)
    metrics = judged.metrics

    artifact = serialize_model(pipeline)
    check_round_trip(artifact, pipeline, test_x)
    params = json_safe(pipeline.named_steps[MODEL_STEP].get_params(deep=False))
    return TrainingOutcome(
        task=task,
        pipeline=pipeline,
        artifact=artifact,
        metrics=metrics,
        skipped_metrics=judged.skipped,
        key_metric=metric,
        gates=judged.gates,
        params=params,
        reproducibility=run_record(spec, dataset, params, metrics, environment),
        columns=columns,
        classes=json_safe(list(pipeline.classes_)) if task == "classification" else None,
        train_rows=len(split.train),
        test_rows=len(split.test),
        dropped_rows=rows.dropped_rows,
        fit_seconds=fit_seconds,
        warnings=fit_warnings,
        feature_steps=[step.to_wire() for step in feature_steps],
        preprocessing=describe_preprocessing(pipeline),
        sensitive_feature=fairness_column,
        fairness_unavailable=judged.fairness_unavailable,
        error_rates=judged.error_rates,
    )
