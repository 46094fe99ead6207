"""The functions a declared feature step calls inside a fitted pipeline, at training and at serving.

A saved model names these by their import path (through scikit-learn's FunctionTransformer), and
`trusted_types` lists exactly these paths: so they are part of the artifact format, and renaming
or changing one changes what stored models compute. They take the 2-D block a ColumnTransformer
hands them and return a 2-D float64 block, so that every declared step has the same shape contract.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

DATE_PARTS = ("year", "month", "day", "dayOfWeek", "hour")
"""The parts `date_parts` can take from a date/time, in the API's spelling."""


def ratio(block: Any) -> np.ndarray:
    """The first column divided by the second, as one column; NaN where the ratio is undefined
    (a missing operand or a zero denominator), which the imputation after it fills."""
    values = np.asarray(block, dtype=np.float64)
    numerator, denominator = values[:, 0], values[:, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        quotient = numerator / denominator
    quotient[~np.isfinite(quotient)] = np.nan
    return quotient.reshape(-1, 1)


def date_parts(block: Any, parts: list[str]) -> np.ndarray:
    """The named parts of one column of ISO 8601 dates/times, one output column per part (Monday is
    day of week 0). Times with an offset are converted to UTC first; an unparsable or missing value
    gives NaN in every part, which the imputation after it fills."""
    column = pd.Series(np.asarray(block, dtype=object)[:, 0])
    moments = pd.to_datetime(column, errors="coerce", utc=True, format="ISO8601")
    fields = {
        "year": moments.dt.year,
        "month": moments.dt.month,
        "day": moments.dt.day,
        "dayOfWeek": moments.dt.day_of_week,
        "hour": moments.dt.hour,
    }
    return np.column_stack([fields[part].to_numpy(dtype=np.float64, na_value=np.nan) for part in parts])
