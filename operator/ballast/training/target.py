"""The target column as labels (classification) or numbers (regression), rows without one dropped."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ballast.api.catalog import Task
from ballast.api.dataset import DatasetSchema
from ballast.training.errors import InvalidTrainingData


@dataclass(frozen=True)
class LabelledRows:
    frame: pd.DataFrame
    """The rows that have a target value, re-indexed 0..n-1."""
    target: pd.Series
    dropped_rows: int


def _column_type(schema: DatasetSchema, name: str) -> str:
    return next(column.type for column in schema.columns if column.name == name)


def _classification_labels(values: pd.Series, column_type: str, name: str) -> pd.Series:
    if column_type == "float":
        if not np.all(np.mod(values.to_numpy(dtype="float64"), 1) == 0):
            raise InvalidTrainingData(
                f"target {name!r} is a float column with fractional values; "
                "a classifier needs class labels (use a regressor, or an integer or category column)"
            )
        return values.astype("int64")
    if column_type == "integer":
        return values.astype("int64")
    if column_type == "boolean":
        return values.astype(bool)
    # Plain Python strings: skops stores them as JSON, and pandas string dtypes stay out of the model.
    return pd.Series(values.astype(object).map(str).to_numpy(dtype=object), index=values.index, name=name)


def labelled_rows(frame: pd.DataFrame, schema: DatasetSchema, task: Task) -> LabelledRows:
    name = schema.target
    if not name or name not in frame.columns:
        raise InvalidTrainingData(f"the data has no target column {name!r}")
    present = frame[name].notna().to_numpy()
    kept = frame.loc[present].reset_index(drop=True)
    if kept.empty:
        raise InvalidTrainingData(f"no row has a value in the target column {name!r}")
    target = target_values(kept[name], schema, task)
    if task == "classification" and target.nunique() < 2:
        raise InvalidTrainingData(f"target {name!r} has a single class; a classifier needs at least two")
    return LabelledRows(frame=kept, target=target, dropped_rows=int((~present).sum()))


def target_values(values: pd.Series, schema: DatasetSchema, task: Task) -> pd.Series:
    """Present target values as the model learns them: class labels, or float64 for a regressor."""
    name = str(values.name)
    column_type = _column_type(schema, name)
    if task == "classification":
        return _classification_labels(values, column_type, name).rename(name)
    if column_type not in ("integer", "float"):
        raise InvalidTrainingData(f"target {name!r} is a {column_type} column; a regressor needs a numeric target")
    return pd.to_numeric(values, errors="raise").astype("float64").rename(name)
