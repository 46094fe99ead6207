"""Validation of a coerced table against a Dataset's schema and rules.

Returns every violation, not the first: a person fixing the data wants the whole list.
Each violation is one short sentence that names the column, the rule, how many values break
it and where the first one is, e.g. "column income: 3 values are not finite numbers (first at
row 7)". Never the values themselves: violations go into the Dataset's status, which more
people may read than the data (and a source could answer with anything). Rows are numbered
from 1 in the order the source gives them (the header line of a CSV is not a row).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ballast.api.dataset import Column, DatasetSpec, DatasetValidation
from ballast.data.coerce import NULL, UNREADABLE, VALUE, CoercedColumn, CoercedTable

NOT_READABLE_AS = {  # (one value, several values)
    "integer": ("is not a whole number", "are not whole numbers"),
    "float": ("is not a finite number", "are not finite numbers"),
    "boolean": ("is not a boolean (true/false/1/0)", "are not booleans (true/false/1/0)"),
}


def validate_table(table: CoercedTable, spec: DatasetSpec) -> list[str]:
    rules = spec.validation or DatasetValidation()
    violations: list[str] = []
    if table.rows < rules.min_rows:
        violations.append(f"the table has {table.rows} rows, fewer than the minimum of {rules.min_rows}")
    violations += [f"column {name}: missing from the data" for name in table.missing]
    violations += [f"column {column.name}: not in the schema" for column in table.extras]
    declared = {column.name: column for column in spec.schema_.columns}
    for column in table.columns:
        violations += column_violations(column, declared[column.name], rules.max_null_fraction)
    return violations


def column_violations(column: CoercedColumn, rules: Column, max_null_fraction: float) -> list[str]:
    found: list[str] = []
    state = column.state
    rows = len(state)
    unreadable = np.flatnonzero(state == UNREADABLE)
    if len(unreadable):
        found.append(
            f"column {column.name}: {_values(len(unreadable), *NOT_READABLE_AS[column.type])} "
            f"(first at row {unreadable[0] + 1})"
        )
    nulls = np.flatnonzero(state == NULL)
    if len(nulls) and not rules.nullable:
        found.append(
            f"column {column.name}: {_values(len(nulls), 'is', 'are')} missing but the column is not nullable "
            f"(first at row {nulls[0] + 1})"
        )
    if rows and len(nulls) / rows > max_null_fraction:
        found.append(
            f"column {column.name}: {_percent(len(nulls) / rows)} of values are missing, "
            f"more than the maximum of {_percent(max_null_fraction)}"
        )
    if column.type in ("integer", "float"):
        found += _range_violations(column, rules)
    if rules.allowed_values is not None and column.is_text:
        found += _allowed_value_violations(column, rules.allowed_values)
    return found


def _range_violations(column: CoercedColumn, rules: Column) -> list[str]:
    found: list[str] = []
    values = np.asarray(column.values)
    valid = column.state == VALUE
    for bound, label, outside, pick in (
        (rules.minimum, "below the minimum", np.less, np.argmin),
        (rules.maximum, "above the maximum", np.greater, np.argmax),
    ):
        if bound is None:
            continue
        offending = valid & outside(values, bound)
        count = int(offending.sum())
        if count:
            rows = np.flatnonzero(offending)
            worst = rows[pick(values[rows])]
            word = "smallest" if pick is np.argmin else "largest"
            found.append(
                f"column {column.name}: {_values(count, 'is', 'are')} {label} of {_number(bound)} "
                f"({word} at row {worst + 1})"
            )
    return found


def _allowed_value_violations(column: CoercedColumn, allowed: list[str]) -> list[str]:
    valid = pa.array(column.state == VALUE)
    not_allowed = pc.and_(valid, pc.invert(pc.is_in(column.values, value_set=pa.array(allowed))))
    rows = np.flatnonzero(np.asarray(pc.fill_null(not_allowed, False).to_numpy(zero_copy_only=False)))
    if not len(rows):
        return []
    return [
        f"column {column.name}: {_values(len(rows), 'is', 'are')} not among the allowed values "
        f"(first at row {rows[0] + 1})"
    ]


def _values(count: int, one: str, several: str) -> str:
    return f"1 value {one}" if count == 1 else f"{count} values {several}"


def _percent(fraction: float) -> str:
    return f"{fraction * 100:.4g}%"


def _number(value: float | int) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)
