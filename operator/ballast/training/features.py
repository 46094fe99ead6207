"""Which columns a model learns from, and the one way a frame is turned into model input.

The model server must call `feature_frame` too, so that training and serving see features of
the same dtypes: numbers as float64 with NaN for missing, and everything categorical (string,
category, boolean) as Python strings with NaN for missing, which is what SimpleImputer and
OneHotEncoder handle without surprises (pandas 3 string dtypes and pd.NA they do not).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ballast.api.dataset import DatasetSchema
from ballast.training.errors import InvalidTrainingData

NUMERIC_TYPES = frozenset({"integer", "float"})
CATEGORICAL_TYPES = frozenset({"string", "category", "boolean"})


@dataclass(frozen=True)
class FeatureColumns:
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    target: str

    @property
    def all(self) -> tuple[str, ...]:
        return self.numeric + self.categorical


def feature_columns(schema: DatasetSchema) -> FeatureColumns:
    """Numeric and categorical features (in schema order) and the target, from the schema."""
    if not schema.target:
        raise InvalidTrainingData("the dataset schema names no target column; training needs one")
    types = {column.name: column.type for column in schema.columns}
    names = schema.features or [c.name for c in schema.columns if c.name != schema.target]
    unknown = [name for name in names if name not in types]
    if unknown:
        raise InvalidTrainingData(f"features not in the schema's columns: {', '.join(unknown)}")
    if not names:
        raise InvalidTrainingData("the dataset schema leaves no feature column besides the target")
    return FeatureColumns(
        numeric=tuple(n for n in names if types[n] in NUMERIC_TYPES),
        categorical=tuple(n for n in names if types[n] in CATEGORICAL_TYPES),
        target=schema.target,
    )


def _as_category_strings(values: pd.Series) -> pd.Series:
    missing = values.isna().to_numpy()
    as_text = values.astype(object).map(str).to_numpy(dtype=object)
    as_text[missing] = np.nan
    return pd.Series(as_text, index=values.index, name=values.name, dtype=object)


def feature_frame(frame: pd.DataFrame, columns: FeatureColumns) -> pd.DataFrame:
    """The model's input: the feature columns only, in a fixed order and with fixed dtypes."""
    missing = [name for name in columns.all if name not in frame.columns]
    if missing:
        raise InvalidTrainingData(f"the data has no column(s) {', '.join(missing)} that the schema lists as features")
    converted: dict[str, pd.Series] = {}
    for name in columns.numeric:
        try:
            converted[name] = pd.to_numeric(frame[name], errors="raise").astype("float64")
        except (ValueError, TypeError) as error:
            raise InvalidTrainingData(f"column {name!r} is declared numeric but holds non-numbers: {error}") from None
    for name in columns.categorical:
        converted[name] = _as_category_strings(frame[name])
    return pd.DataFrame(converted, index=frame.index)[list(columns.all)]
