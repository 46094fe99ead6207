"""What runs on a worker, one block at a time: the block's labelled rows, their statistics, one
incremental fit, and the held-out rows' scores."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer

from ballast.api.catalog import Task
from ballast.api.dataset import DatasetSchema
from ballast.training.blockwise.hashed_split import held_out
from ballast.training.blockwise.stats import BlockStats, Moments
from ballast.training.features import FeatureColumns, feature_frame
from ballast.training.metrics import predict_proba_or_none
from ballast.training.target import target_values


@dataclass(frozen=True)
class LabelledBlock:
    features: pd.DataFrame
    """The model's input (feature_frame) of the rows that have a target value."""
    target: pd.Series
    test: np.ndarray
    """True for the rows held out for testing."""
    unlabelled_rows: int
    sensitive: np.ndarray | None = None
    """The fairness gate's column, when it names one."""


@dataclass(frozen=True)
class Predictions:
    labels: np.ndarray
    proba: np.ndarray | None


@dataclass(frozen=True)
class Scores:
    """A block's held-out rows: true values, the model's answers, and the champion's if asked."""

    y_true: np.ndarray
    model: Predictions
    sensitive: np.ndarray | None = None
    champion: Predictions | None = None


def labelled_block(
    frame: pd.DataFrame,
    first_row: int,
    schema: DatasetSchema,
    columns: FeatureColumns,
    task: Task,
    *,
    seed: int,
    test_fraction: float,
    sensitive_column: str | None = None,
) -> LabelledBlock:
    """`frame` holds the rows first_row, first_row + 1, ... of the snapshot."""
    test = held_out(np.arange(first_row, first_row + len(frame)), seed, test_fraction)
    present = frame[columns.target].notna().to_numpy()
    kept = frame.loc[present].reset_index(drop=True)
    return LabelledBlock(
        features=feature_frame(kept, columns),
        target=target_values(kept[columns.target], schema, task).reset_index(drop=True),
        test=test[present],
        unlabelled_rows=int((~present).sum()),
        sensitive=kept[sensitive_column].to_numpy() if sensitive_column else None,
    )


def block_stats(block: LabelledBlock, columns: FeatureColumns, task: Task) -> BlockStats:
    train = block.features.loc[~block.test]
    return BlockStats(
        train_rows=len(train),
        test_rows=int(block.test.sum()),
        unlabelled_rows=block.unlabelled_rows,
        numeric={name: Moments.of(train[name].to_numpy(dtype=np.float64)) for name in columns.numeric},
        categories={name: Counter(train[name].dropna()) for name in columns.categorical},
        classes=Counter(block.target[~block.test]) if task == "classification" else Counter(),
    )


def fit_step(
    estimator: BaseEstimator,
    preprocessor: ColumnTransformer,
    block: LabelledBlock,
    classes: np.ndarray | None,
    shuffle_seed: int,
) -> BaseEstimator:
    """One pass of partial_fit over the block's training rows, in an order seeded per block and epoch."""
    train = ~block.test
    if not train.any():
        return estimator
    features = preprocessor.transform(block.features.loc[train])
    target = block.target[train].to_numpy()
    order = np.random.default_rng(shuffle_seed).permutation(len(target))
    if classes is None:
        estimator.partial_fit(features[order], target[order])  # type: ignore[attr-defined]
    else:
        estimator.partial_fit(features[order], target[order], classes=classes)  # type: ignore[attr-defined]
    return estimator


def _predictions(model: Any, features: pd.DataFrame, task: Task) -> Predictions:
    proba = predict_proba_or_none(model, features) if task == "classification" else None
    return Predictions(model.predict(features), proba)


def score_step(model: Any, block: LabelledBlock, task: Task, champion: Any | None = None) -> Scores:
    """model (and champion): whole fitted pipelines, which take the feature frame."""
    test = block.features.loc[block.test]
    y_true = block.target[block.test].to_numpy()
    sensitive = block.sensitive[block.test] if block.sensitive is not None else None
    if not len(test):
        empty = Predictions(y_true[:0], None)
        return Scores(y_true, empty, sensitive, empty if champion is not None else None)
    champion_answers = _predictions(champion, test, task) if champion is not None else None
    return Scores(y_true, _predictions(model, test, task), sensitive, champion_answers)
