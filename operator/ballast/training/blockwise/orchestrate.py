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
from ballast.api.trainingrun import DEFAULT_EPOCHS
from ballast.training.blockwise.fitted_preprocessing import fitted_preprocessor
from ballast.training.blockwise.plan import Block
from ballast.training.blockwise.stats import BlockStats, merged
from ballast.training.blockwise.steps import LabelledBlock, Predictions, Scores, block_stats, fit_step, score_step
from ballast.training.features import FeatureColumns
from ballast.training.judgement import HeldOut
from ballast.training.preprocessing import MODEL_STEP, PREPROCESS_STEP

T = TypeVar("T")
S = TypeVar("S")


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
    held_out: HeldOut
    """The model's answers on every block's held-out rows, in row order."""
    champion: HeldOut | None
    """The champion's answers on the same rows, when one was given."""
    stats: BlockStats
    epochs: int


def epoch_order(blocks: Sequence[Block], seed: int, epoch: int) -> list[Block]:
    """The blocks in a seeded order of their own each epoch, as SGD wants its samples shuffled."""
    return [blocks[i] for i in np.random.default_rng([seed, epoch]).permutation(len(blocks))]


def shuffle_seed(seed: int, epoch: int, block: Block) -> int:
    return int(np.random.SeedSequence([seed, epoch, block.index]).generate_state(1)[0])


def _held_out(scores: list[Scores], answers: Callable[[Scores], Predictions | None], classes: Any) -> HeldOut:
    found = [answers(s) for s in scores]
    labels = np.concatenate([p.labels for p in found if p is not None])
    probas = [p.proba for p in found if p is not None and len(p.labels)]
    proba = np.concatenate(probas) if probas and all(p is not None for p in probas) else None  # type: ignore[arg-type]
    sensitive = [s.sensitive for s in scores if s.sensitive is not None]
    return HeldOut(
        y_true=np.concatenate([s.y_true for s in scores]),
        y_pred=labels,
        proba=proba,
        classes=classes,
        sensitive=np.concatenate(sensitive) if sensitive else None,
    )


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
    champion: Any | None = None,
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
    scores = engine.map(lambda block: score_step(pipeline, load(block), task, champion), blocks)
    held_out = _held_out(scores, lambda s: s.model, classes)
    champion_classes = np.asarray(champion.classes_) if champion is not None and classes is not None else None
    champion_held_out = _held_out(scores, lambda s: s.champion, champion_classes) if champion is not None else None
    return BlockwiseFit(pipeline, held_out, champion_held_out, stats, epochs)
