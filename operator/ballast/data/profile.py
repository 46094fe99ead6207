"""The profile of a Dataset version: per column, the statistics drift detection compares with.

Shape (JSON, no NaN or Infinity anywhere: a statistic that does not exist is null):

    {"format": "ballast-profile-v1", "rows": 150, "target": "species",
     "features": ["sepal length (cm)", ...],
     "columns": {
       "<numeric column>": {"type": "float"|"integer", "role": "feature"|"target"|"other",
                            "count": 148, "nulls": 2, "min": 4.3, "max": 7.9,
                            "mean": 5.84, "std": 0.83, "binEdges": [4.3, 4.8, ..., 7.9]},
       "<other column>":   {"type": "category"|"string"|"boolean", "role": ..., "count": 150,
                            "nulls": 0, "distinct": 3,
                            "frequencies": [{"value": "setosa", "count": 50}, ...],
                            "otherCount": 0}}}

- count is the number of non-null values; nulls the number of null ones.
- std is the sample standard deviation (ddof=1, as pandas computes it); null below 2 values.
- binEdges are the quantiles at 0, 1/bins, ..., 1 (numpy's linear interpolation) of the
  non-null values, with duplicates removed, so they run from min to max and every bin holds
  about the same share of the training data (a constant column has the single edge [v]).
  The model server uses them as the upper bounds (`le`) of its Prometheus histogram buckets
  for the feature, with +Inf added by Prometheus; a value at or below binEdges[0] falls in the
  first bucket. Drift is then measured on equal-mass bins of the reference distribution,
  which keeps PSI and chi-square stable when a feature is skewed.
- frequencies lists the most frequent values (at most `top_values`, by count then value);
  otherCount counts the remaining non-null values; booleans appear as "true"/"false".
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ballast.api.dataset import DatasetSchema
from ballast.data.coerce import VALUE, CoercedColumn, CoercedTable

PROFILE_FORMAT = "ballast-profile-v1"
DEFAULT_BINS = 10
DEFAULT_TOP_VALUES = 50


def feature_names(schema: DatasetSchema) -> list[str]:
    """The schema's features: as declared, or every column but the target."""
    if schema.features:
        return list(schema.features)
    return [column.name for column in schema.columns if column.name != schema.target]


def profile_table(
    table: CoercedTable, schema: DatasetSchema, *, bins: int = DEFAULT_BINS, top_values: int = DEFAULT_TOP_VALUES
) -> dict[str, Any]:
    features = feature_names(schema)
    return {
        "format": PROFILE_FORMAT,
        "rows": table.rows,
        "target": schema.target,
        "features": features,
        "columns": {
            column.name: {
                "type": column.type,
                "role": "target" if column.name == schema.target else "feature" if column.name in features else "other",
                **column_profile(column, bins=bins, top_values=top_values),
            }
            for column in table.columns
        },
    }


def column_profile(
    column: CoercedColumn, *, bins: int = DEFAULT_BINS, top_values: int = DEFAULT_TOP_VALUES
) -> dict[str, Any]:
    valid = column.state == VALUE
    counts = {"count": int(valid.sum()), "nulls": int((~valid).sum())}
    if column.type in ("integer", "float"):
        return counts | numeric_statistics(np.asarray(column.values)[valid], column.type, bins)
    return counts | value_frequencies(labels_of(column, valid), top_values)


def numeric_statistics(values: np.ndarray, type: str, bins: int) -> dict[str, Any]:
    if len(values) == 0:
        return {"min": None, "max": None, "mean": None, "std": None, "binEdges": []}
    floats = values.astype(np.float64, copy=False)
    edges = np.unique(np.quantile(floats, np.linspace(0.0, 1.0, bins + 1)))
    as_number = int if type == "integer" else float
    return {
        "min": as_number(values.min()),
        "max": as_number(values.max()),
        "mean": finite_or_none(floats.mean()),
        "std": finite_or_none(floats.std(ddof=1)) if len(floats) > 1 else None,
        "binEdges": [finite_or_none(edge) for edge in edges],
    }


def value_frequencies(labels: pa.Array, top_values: int) -> dict[str, Any]:
    counted = pc.value_counts(labels)
    return frequencies_of(counted.field("values"), counted.field("counts"), top_values)


def frequencies_of(values: pa.Array, counts: pa.Array, top_values: int) -> dict[str, Any]:
    """The profile's distinct, frequencies and otherCount from each distinct value's count."""
    counted = pa.table({"values": values, "counts": pa.array(counts, type=pa.int64())})
    # Most frequent first; ties broken by the value so the profile is deterministic.
    order = pc.sort_indices(counted, sort_keys=[("counts", "descending"), ("values", "ascending")])
    top = counted.take(order[:top_values])
    total = int(pc.sum(counted["counts"]).as_py() or 0)
    shown = [
        {"value": value, "count": int(count)}
        for value, count in zip(top["values"].to_pylist(), top["counts"].to_pylist())
    ]
    return {
        "distinct": counted.num_rows,
        "frequencies": shown,
        "otherCount": total - sum(entry["count"] for entry in shown),
    }


def labels_of(column: CoercedColumn, valid: np.ndarray) -> pa.Array:
    if column.type == "boolean":
        return pa.array(np.where(np.asarray(column.values)[valid], "true", "false"), type=pa.large_string())
    return pc.filter(column.values, pa.array(valid))


def finite_or_none(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


SUMMARY_NUMERIC_FIELDS = ("count", "nulls", "min", "max", "mean", "std")
SUMMARY_CATEGORICAL_FIELDS = ("count", "nulls", "distinct")


def profile_summary(profile: Any) -> dict[str, Any]:
    """The profile without its bins and value lists: what a model card shows of the data
    (rows, and per column its type, role, missing values and range or number of values)."""
    columns = profile.get("columns") or {}
    summary = {}
    for name, column in columns.items():
        numeric = column.get("type") in ("integer", "float")
        fields = SUMMARY_NUMERIC_FIELDS if numeric else SUMMARY_CATEGORICAL_FIELDS
        summary[name] = {
            "type": column.get("type"),
            "role": column.get("role"),
            **{field: column.get(field) for field in fields},
        }
    return {"rows": profile.get("rows"), "target": profile.get("target"), "columns": summary}
