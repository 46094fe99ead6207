"""A blockwise run from start to end, on any engine that can map a function over blocks and
chain one through them (`Engine`): the statistics pass, the epochs of incremental fitting and
the scoring pass."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol, TypeVar

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline

from ballast.api.catalog import Task
from ballast.training.blockwise.fitted_preprocessing import fitted_preprocessor
from ballast.training.blockwise.plan import Block
from ballast.training.blockwise.stats import BlockStats, merged
from ballast.training.blockwise.steps import LabelledBlock, Scores, block_stats, fit_step, score_step
from ballast.training.features import FeatureColumns
from ballast.training.metrics import MetricValues, classification_metrics, regression_metrics
from ballast.training.preprocessing import MODEL_STEP, PREPROCESS_STEP

T = TypeVar("T")
S = TypeVar("S")

DEFAULT_EPOCHS = 5


class Engine(Protocol):
    def map(self, function: Callable[[Block], T], blocks: Sequence[Block]) -> list[T]:
        """function over every block, anywhere, in parallel; results in the blocks' order."""
        ...

    def chain(self, function: Callable[[S, Block], S], state: S, blocks: Sequence[Block]) -> S:
        """state = function(state, block) for each block in turn, each step anywhere."""
        ...


class InProcess:
    """Every step in this process, one after another: the engine of tests and small data."""

    def map(self, function: Callable[[Block], T], blocks: Sequence[Block]) -> list[T]:
        return [function(block) for block in blocks]

    def chain(self, function: Callable[[S, Block], S], state: S, blocks: Sequence[Block]) -> S:
        for block in blocks:
            state = function(state, block)
        return state


@dataclass(frozen=True)
class BlockwiseFit:
    pipeline: Pipeline
    metrics: MetricValues
    stats: BlockStats
    classes: np.ndarray | None
    epochs: int


def epoch_order(blocks: Sequence[Block], seed: int, epoch: int) -> list[Block]:
    """The blocks in a seeded order of their own each epoch, as SGD wants its samples shuffled."""
    return [blocks[i] for i in np.random.default_rng([seed, epoch]).permutation(len(blocks))]


def shuffle_seed(seed: int, epoch: int, block: Block) -> int:
    return int(np.random.SeedSequence([seed, epoch, block.index]).generate_state(1)[0])


def _metrics(scores: list[Scores], task: Task, classes: np.ndarray | None) -> MetricValues:
    y_true = np.concatenate([s.y_true for s in scores])
    y_pred = np.concatenate([s.y_pred for s in scores])
    if task == "regression":
        return regression_metrics(y_true, y_pred)
    probas = [s.proba for s in scores if len(s.y_true)]
    proba = None if any(p is None for p in probas) else np.concatenate(probas)  # type: ignore[arg-type]
    assert classes is not None
    return classification_metrics(y_true, y_pred, proba, classes)


def train_blockwise(
    blocks: Sequence[Block],
    load: Callable[[Block], LabelledBlock],
    engine: Engine,
    *,
    estimator: BaseEstimator,
    columns: FeatureColumns,
    task: Task,
    scale: bool,
    seed: int,
    epochs: int = DEFAULT_EPOCHS,
) -> BlockwiseFit:
    """`load` reads a block's rows where the engine runs it (a worker), so no block travels."""
    stats = merged(engine.map(lambda block: block_stats(load(block), columns, task), blocks))
    classes = np.array(sorted(stats.classes)) if task == "classification" else None
    preprocessor = fitted_preprocessor(stats, columns, scale)

    def fit(epoch: int, model: Any, block: Block) -> Any:
        return fit_step(model, preprocessor, load(block), classes, shuffle_seed(seed, epoch, block))

    for epoch in range(epochs):
        estimator = engine.chain(partial(fit, epoch), estimator, epoch_order(blocks, seed, epoch))
    pipeline = Pipeline([(PREPROCESS_STEP, preprocessor), (MODEL_STEP, estimator)])
    scores = engine.map(lambda block: score_step(pipeline, load(block), task), blocks)
    return BlockwiseFit(pipeline, _metrics(scores, task, classes), stats, classes, epochs)
