"""Validation of a coerced table against a Dataset's schema and rules.

Returns every violation, not the first: a person fixing the data wants the whole list.
Each violation is one short sentence that names the column, the rule, how many values break
it and where the first one is, e.g. "column income: 3 values are not finite numbers (first at
row 7)". Never the values themselves: violations go into the Dataset's status, which more
people may read than the data (and a source could answer with anything). Rows are numbered
from 1 in the order the source gives them (the header line of a CSV is not a row).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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
    findings = ValidationFindings.of(table, spec)
    return findings.violations(spec)


@dataclass(frozen=True)
class Hits:
    """How many cells break one rule, and the row (numbered from 0) that the message names."""

    count: int = 0
    row: int = -1
    value: float = 0.0
    """For a range rule, the most extreme offending value (its row is the one named)."""

    def merge(self, later: Hits, *, extreme: Callable[[float, float], bool] | None = None) -> Hits:
        """`later` comes from rows after these: the first row stays, unless `extreme` prefers later's value."""
        if not later.count:
            return self
        if not self.count or (extreme is not None and extreme(later.value, self.value)):
            return Hits(self.count + later.count, later.row, later.value)
        return Hits(self.count + later.count, self.row, self.value)


@dataclass(frozen=True)
class ColumnFindings:
    """One column's rule breaks over some rows: counts that add up across slices of a table."""

    rows: int = 0
    unreadable: Hits = Hits()
    nulls: Hits = Hits()
    below: Hits = Hits()
    above: Hits = Hits()
    not_allowed: Hits = Hits()

    def merge(self, later: ColumnFindings) -> ColumnFindings:
        return ColumnFindings(
            rows=self.rows + later.rows,
            unreadable=self.unreadable.merge(later.unreadable),
            nulls=self.nulls.merge(later.nulls),
            # The message names the smallest (largest) offending value; ties keep the first row.
            below=self.below.merge(later.below, extreme=lambda new, old: new < old),
            above=self.above.merge(later.above, extreme=lambda new, old: new > old),
            not_allowed=self.not_allowed.merge(later.not_allowed),
        )


@dataclass(frozen=True)
class ValidationFindings:
    """What validation found in a table or in the slices of one seen so far (`merge` in row order)."""

    rows: int
    missing: tuple[str, ...]
    extras: tuple[str, ...]
    columns: dict[str, ColumnFindings]

    @classmethod
    def of(cls, table: CoercedTable, spec: DatasetSpec, first_row: int = 0) -> ValidationFindings:
        """The findings of `table`, whose first row is row `first_row` of the whole table."""
        declared = {column.name: column for column in spec.schema_.columns}
        return cls(
            rows=table.rows,
            missing=table.missing,
            extras=tuple(column.name for column in table.extras),
            columns={
                column.name: column_findings(column, declared[column.name], first_row) for column in table.columns
            },
        )

    def merge(self, later: ValidationFindings) -> ValidationFindings:
        return ValidationFindings(
            rows=self.rows + later.rows,
            missing=self.missing,
            extras=self.extras,
            columns={name: found.merge(later.columns[name]) for name, found in self.columns.items()},
        )

    def violations(self, spec: DatasetSpec) -> list[str]:
        rules = spec.validation or DatasetValidation()
        violations: list[str] = []
        if self.rows < rules.min_rows:
            violations.append(f"the table has {self.rows} rows, fewer than the minimum of {rules.min_rows}")
        violations += [f"column {name}: missing from the data" for name in self.missing]
        violations += [f"column {name}: not in the schema" for name in self.extras]
        declared = {column.name: column for column in spec.schema_.columns}
        for name, found in self.columns.items():
            violations += column_violations(name, found, declared[name], rules.max_null_fraction)
        return violations


def column_findings(column: CoercedColumn, rules: Column, first_row: int = 0) -> ColumnFindings:
    state = column.state
    return ColumnFindings(
        rows=len(state),
        unreadable=_first_hit(state == UNREADABLE, first_row),
        nulls=_first_hit(state == NULL, first_row),
        **(_range_hits(column, rules, first_row) if column.type in ("integer", "float") else {}),
        not_allowed=_not_allowed_hits(column, rules.allowed_values, first_row)
        if rules.allowed_values is not None and column.is_text
        else Hits(),
    )


def _first_hit(mask: np.ndarray, first_row: int) -> Hits:
    rows = np.flatnonzero(mask)
    return Hits(len(rows), first_row + int(rows[0])) if len(rows) else Hits()


def _range_hits(column: CoercedColumn, rules: Column, first_row: int) -> dict[str, Hits]:
    hits: dict[str, Hits] = {}
    values = np.asarray(column.values)
    valid = column.state == VALUE
    for key, bound, outside, pick in (
        ("below", rules.minimum, np.less, np.argmin),
        ("above", rules.maximum, np.greater, np.argmax),
    ):
        if bound is None:
            continue
        rows = np.flatnonzero(valid & outside(values, bound))
        if len(rows):
            worst = rows[pick(values[rows])]
            hits[key] = Hits(len(rows), first_row + int(worst), float(values[worst]))
    return hits


def _not_allowed_hits(column: CoercedColumn, allowed: list[str], first_row: int) -> Hits:
    if column.categories is not None:  # each category is looked up once, not each cell
        is_allowed = pc.is_in(column.categories.texts, value_set=pa.array(allowed))
        allowed_text = np.asarray(pc.fill_null(is_allowed, False).to_numpy(zero_copy_only=False), dtype=bool)
        return _first_hit((column.state == VALUE) & ~allowed_text[column.categories.codes], first_row)
    valid = pa.array(column.state == VALUE)
    not_allowed = pc.and_(valid, pc.invert(pc.is_in(column.values, value_set=pa.array(allowed))))
    return _first_hit(np.asarray(pc.fill_null(not_allowed, False).to_numpy(zero_copy_only=False)), first_row)


def column_violations(name: str, found: ColumnFindings, rules: Column, max_null_fraction: float) -> list[str]:
    messages: list[str] = []
    if found.unreadable.count:
        messages.append(
            f"column {name}: {_values(found.unreadable.count, *NOT_READABLE_AS[rules.type])} "
            f"(first at row {found.unreadable.row + 1})"
        )
    nulls = found.nulls.count
    if nulls and not rules.nullable:
        messages.append(
            f"column {name}: {_values(nulls, 'is', 'are')} missing but the column is not nullable "
            f"(first at row {found.nulls.row + 1})"
        )
    if found.rows and nulls / found.rows > max_null_fraction:
        messages.append(
            f"column {name}: {_percent(nulls / found.rows)} of values are missing, "
            f"more than the maximum of {_percent(max_null_fraction)}"
        )
    for hits, bound, label, word in (
        (found.below, rules.minimum, "below the minimum", "smallest"),
        (found.above, rules.maximum, "above the maximum", "largest"),
    ):
        if hits.count and bound is not None:
            messages.append(
                f"column {name}: {_values(hits.count, 'is', 'are')} {label} of {_number(bound)} "
                f"({word} at row {hits.row + 1})"
            )
    if found.not_allowed.count:
        messages.append(
            f"column {name}: {_values(found.not_allowed.count, 'is', 'are')} not among the allowed values "
            f"(first at row {found.not_allowed.row + 1})"
        )
    return messages


def _values(count: int, one: str, several: str) -> str:
    return f"1 value {one}" if count == 1 else f"{count} values {several}"


def _percent(fraction: float) -> str:
    return f"{fraction * 100:.4g}%"


def _number(value: float | int) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)
