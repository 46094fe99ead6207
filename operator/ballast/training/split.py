"""The seeded train/test split: the same seed and data always hold out the same rows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from ballast.training.errors import InvalidTrainingData


@dataclass(frozen=True)
class SplitIndices:
    train: np.ndarray
    test: np.ndarray


def split_indices(target: pd.Series, test_fraction: float, seed: int, stratify: bool) -> SplitIndices:
    """Row positions for training and testing; stratified by the target for classifiers."""
    positions = np.arange(len(target))
    try:
        train, test = train_test_split(
            positions,
            test_size=test_fraction,
            random_state=seed,
            shuffle=True,
            stratify=target.to_numpy() if stratify else None,
        )
    except ValueError as error:
        # Typically a class with a single row, or too few rows for the requested fraction.
        raise InvalidTrainingData(
            f"cannot split {len(target)} rows with testFraction {test_fraction}"
            f"{' stratified by class' if stratify else ''}: {error}"
        ) from None
    return SplitIndices(train=np.sort(train), test=np.sort(test))
