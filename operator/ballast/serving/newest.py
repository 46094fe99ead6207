"""Which rows of a training snapshot are its newest part (ballast.drift.newest.NewestPart): pure
selection on the frame, before the rows are counted into the live buckets like the whole snapshot."""

from __future__ import annotations

import math

import pandas as pd

from ballast.drift.newest import NewestPart


def row_times(column: pd.Series) -> pd.Series:
    """Each row's time in seconds: numbers as they are (epoch seconds, or any ordered number),
    anything else parsed as a timestamp (naive ones read as UTC); NaN where there is none."""
    if pd.api.types.is_bool_dtype(column):
        raise ValueError(f"the time column {column.name!r} holds booleans, not times")
    if pd.api.types.is_numeric_dtype(column):
        return pd.to_numeric(column, errors="coerce").astype("float64")
    stamps = pd.to_datetime(column, errors="coerce", utc=True, format="mixed")
    seconds = (stamps - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
    return seconds.astype("float64")


def newest_rows(frame: pd.DataFrame, part: NewestPart) -> pd.DataFrame:
    """The snapshot's newest rows. Undated rows belong to no part. The period counts back from the
    newest dated row, not from now: the same snapshot always gives the same part. A fraction
    takes the newest ceil(fraction x dated rows) rows, rows of one time kept or left together."""
    if part.time_column not in frame.columns:
        raise ValueError(f"the training snapshot has no time column {part.time_column!r}")
    times = row_times(frame[part.time_column])
    dated = times.dropna()
    if dated.empty:
        raise ValueError(f"the time column {part.time_column!r} dates no row of the training snapshot")
    if part.period_seconds is not None:
        since = dated.max() - part.period_seconds
    else:
        assert part.fraction is not None  # NewestPart holds exactly one of the two
        ordered = dated.sort_values(ascending=False, kind="stable")
        since = ordered.iloc[max(math.ceil(part.fraction * len(ordered)), 1) - 1]
    return frame[times >= since]
