"""Statistics of the training rows that merge across blocks: what the preprocessing needs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from ballast.training.errors import InvalidTrainingData

MAX_CATEGORIES = 1000
"""Distinct values a categorical column may have: each becomes a one-hot column of every block."""


@dataclass(frozen=True)
class Moments:
    """Count, mean and sum of squared deviations of a column's present values, merged exactly
    (Chan et al.'s pairwise update) in any grouping."""

    count: int = 0
    mean: float = 0.0
    m2: float = 0.0

    @classmethod
    def of(cls, values: np.ndarray) -> Moments:
        present = values[~np.isnan(values)]
        if not len(present):
            return cls()
        mean = float(present.mean())
        return cls(len(present), mean, float(((present - mean) ** 2).sum()))

    def merge(self, other: Moments) -> Moments:
        if not other.count:
            return self
        if not self.count:
            return other
        count = self.count + other.count
        delta = other.mean - self.mean
        return Moments(
            count,
            self.mean + delta * other.count / count,
            self.m2 + other.m2 + delta * delta * self.count * other.count / count,
        )


@dataclass(frozen=True)
class BlockStats:
    train_rows: int = 0
    test_rows: int = 0
    unlabelled_rows: int = 0
    numeric: Mapping[str, Moments] = field(default_factory=dict)
    categories: Mapping[str, Counter[str]] = field(default_factory=dict)
    """Each categorical column's present values and how often each occurs."""
    classes: Counter = field(default_factory=Counter)
    """A classifier's labels in the training rows and their counts; empty for a regressor."""

    def merge(self, other: BlockStats) -> BlockStats:
        return BlockStats(
            self.train_rows + other.train_rows,
            self.test_rows + other.test_rows,
            self.unlabelled_rows + other.unlabelled_rows,
            {
                name: self.numeric.get(name, Moments()).merge(other.numeric.get(name, Moments()))
                for name in {**self.numeric, **other.numeric}
            },
            {
                name: self.categories.get(name, Counter()) + other.categories.get(name, Counter())
                for name in {**self.categories, **other.categories}
            },
            self.classes + other.classes,
        )


def merged(stats: Iterable[BlockStats]) -> BlockStats:
    """All blocks' statistics in one, merged in the order given (so the floats are reproducible);
    refuses what blockwise training cannot learn from."""
    total = BlockStats()
    for block in stats:
        total = total.merge(block)
    if not total.train_rows:
        raise InvalidTrainingData("no training row has a value in the target column")
    wide = sorted(name for name, counts in total.categories.items() if len(counts) > MAX_CATEGORIES)
    if wide:
        raise InvalidTrainingData(
            f"categorical column(s) {', '.join(wide)} have more than {MAX_CATEGORIES} distinct values, "
            "which blockwise training does not one-hot encode; drop them from schema.features"
        )
    if total.classes and len(total.classes) < 2:
        raise InvalidTrainingData("the training rows hold a single class; a classifier needs at least two")
    return total
