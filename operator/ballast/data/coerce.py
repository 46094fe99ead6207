"""Coercion of a raw table to the Dataset's schema, recording what cannot be coerced.

Each cell ends in one of three states: a value of the column's declared type, null, or
unreadable (the raw text is kept, for the violation message and for the content hash). Bad
values never raise: they are results.

How raw values are read, whatever the source:
- Text (CSV fields, string columns of Parquet) is parsed per declared type:
  integer: decimal digits with an optional sign, or a number in float syntax that is whole
  ("1.0", "1e3"); float: decimal or exponent syntax, finite (inf is unreadable); boolean:
  true/false/1/0 in any case. Surrounding whitespace is ignored for these three, and the
  tokens "", NA, N/A, NaN, null, None (any case) are null. string and category keep the text
  as it is; only the empty string is null (CSV cannot tell "" from a missing field).
- Numbers (typed Parquet columns) are taken as numbers: NaN is null, whole floats are valid
  integers, 1/0 are valid booleans.
- Inline values and anything else (mixed Python objects) are read as the text they would
  have in a CSV: strings as they are, numbers in their shortest round-trip form (repr),
  booleans as true/false, None and NaN as null. So inline rows, a CSV and a Parquet file of
  the same table coerce to the same values.
- Categorical columns (Parquet dictionaries) are coerced through their categories.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ballast.api.dataset import ColumnType, DatasetSchema

VALUE, NULL, UNREADABLE = np.uint8(0), np.uint8(1), np.uint8(2)
"""A cell's state, in CoercedColumn.state."""

CoercedType = ColumnType | Literal["extra"]
"""An extra column (not in the schema) is coerced like a string column and tagged "extra"."""

NULL_TOKENS = ("", "na", "n/a", "nan", "null", "none")
INTEGER_TEXT = r"^[+-]?[0-9]+$"
FLOAT_TEXT = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$|^[+-]?(inf|infinity)$"
TRUE_TEXT, FALSE_TEXT = ("true", "1"), ("false", "0")
INT64_LIMIT = 2.0**63


@dataclass(frozen=True)
class Categories:
    """`values` of a text column is `texts.take(codes)` wherever the cell's state is VALUE;
    the texts are distinct."""

    texts: pa.Array
    codes: np.ndarray

    def dictionary_array(self, missing: np.ndarray) -> pa.DictionaryArray:
        """What `dictionary_encode` makes of the cells' texts, null where `missing`: the same
        dictionary in the same order (of first appearance), found by encoding the codes, which
        is much cheaper than hashing every cell's text."""
        encoded = pa.array(self.codes, mask=missing).dictionary_encode()
        return pa.DictionaryArray.from_arrays(encoded.indices, self.texts.take(encoded.dictionary))


@dataclass(frozen=True)
class CoercedColumn:
    """One column after coercion.

    `values` holds the typed values: a numpy array (int64, float64, bool) or, for string,
    category and extra columns, a pyarrow large_string array; cells that are not VALUE hold a
    neutral filler (0, False or null) and must be read through `state`. `unreadable_text` is
    the raw text of the UNREADABLE cells, in row order.
    """

    name: str
    type: CoercedType
    values: np.ndarray | pa.Array
    state: np.ndarray
    unreadable_text: tuple[str, ...]
    categories: Categories | None = None
    """For a text column read from a categorical: its values as codes into the few categories,
    so validation, the profile and the parts can work on those instead of every cell's text."""

    @property
    def is_text(self) -> bool:
        return self.type in ("string", "category", "extra")

    def arrow(self) -> pa.Array:
        """The column as a typed arrow array, nulls (and unreadable cells) as null; a category
        as a dictionary of its labels, so it reads back as pandas' categorical, as from `series`."""
        missing = self.state != VALUE
        if self.type == "category" and self.categories is not None:
            return self.categories.dictionary_array(missing)
        if not missing.any():  # the common case: the values as they are (numbers without a copy)
            values = self.values if self.is_text else pa.array(np.asarray(self.values))
            return values.dictionary_encode() if self.type == "category" else values
        if self.is_text:
            text = pc.if_else(pa.array(missing), pa.scalar(None, pa.large_string()), self.values)
            return text.dictionary_encode() if self.type == "category" else text
        return pa.array(np.asarray(self.values), mask=missing)

    def series(self) -> pd.Series:
        """The column as a typed pandas Series, nulls (and unreadable cells) as missing."""
        missing = self.state != VALUE
        if self.type == "integer":
            array = pd.arrays.IntegerArray(np.asarray(self.values, dtype=np.int64), missing)
        elif self.type == "float":
            array = np.where(missing, np.nan, self.values)
        elif self.type == "boolean":
            array = pd.arrays.BooleanArray(np.asarray(self.values, dtype=bool), missing)
        else:
            text = pc.if_else(pa.array(missing), pa.scalar(None, pa.large_string()), self.values)
            strings = pd.Series(text.to_pandas(), dtype="str")
            if self.type == "category":
                return pd.Series(pd.Categorical(strings, categories=sorted(strings.dropna().unique())), name=self.name)
            return strings.rename(self.name)
        return pd.Series(array, name=self.name)


@dataclass(frozen=True)
class CoercedTable:
    rows: int
    columns: tuple[CoercedColumn, ...]
    """The schema's columns found in the data, in schema order."""
    missing: tuple[str, ...]
    """Schema columns the data lacks, in schema order."""
    extras: tuple[CoercedColumn, ...]
    """Columns the schema does not name, sorted by name."""

    def column(self, name: str) -> CoercedColumn:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    def arrow(self) -> pa.Table:
        """The schema's columns as an arrow table: what a partitioned snapshot's parts store."""
        return pa.table({column.name: column.arrow() for column in self.columns})

    def frame(self) -> pd.DataFrame:
        """The schema's columns as a typed DataFrame: what the snapshot stores and trainers read."""
        return pd.DataFrame({column.name: column.series() for column in self.columns}, index=pd.RangeIndex(self.rows))


def coerce_table(raw: pd.DataFrame, schema: DatasetSchema) -> CoercedTable:
    raw_names = [str(name) for name in raw.columns]
    _refuse_duplicates(raw_names)
    raw = raw.set_axis(raw_names, axis="columns")
    return assemble_table(len(raw), raw_names, schema, lambda name, type: coerce_column(raw[name], name, type))


def assemble_table(
    rows: int, raw_names: list[str], schema: DatasetSchema, coerce: Callable[[str, CoercedType], CoercedColumn]
) -> CoercedTable:
    """The table of the raw columns `raw_names` (distinct), each coerced with `coerce(name, type)`."""
    _refuse_duplicates(raw_names)
    declared = {column.name for column in schema.columns}
    present = [column for column in schema.columns if column.name in raw_names]
    return CoercedTable(
        rows=rows,
        columns=tuple(coerce(column.name, column.type) for column in present),
        missing=tuple(column.name for column in schema.columns if column.name not in raw_names),
        extras=tuple(coerce(name, "extra") for name in sorted(set(raw_names) - declared)),
    )


def _refuse_duplicates(raw_names: list[str]) -> None:
    if len(set(raw_names)) != len(raw_names):
        raise ValueError(
            f"the data has duplicate column names: {sorted({n for n in raw_names if raw_names.count(n) > 1})}"
        )


def coerce_column(raw: pd.Series, name: str, type: CoercedType) -> CoercedColumn:
    raw = raw.reset_index(drop=True)
    dtype = raw.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return _coerce_categorical(raw, name, type)
    if type in ("integer", "float", "boolean") and _is_number_dtype(dtype):
        return _coerce_numbers(raw, name, type)
    return coerce_text(as_text(raw), name, type)


# --- raw values to text --------------------------------------------------------------------


def _is_number_dtype(dtype: object) -> bool:
    return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)


def as_text(raw: pd.Series) -> pa.Array:
    """The column as a large_string array with nulls: the text each value would have in a CSV."""
    dtype = raw.dtype
    if pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype):
        return pa.array(raw, type=pa.large_string(), from_pandas=True)
    if pd.api.types.is_bool_dtype(dtype):
        bools = raw.astype("boolean")
        return pa.array(
            np.where(bools.isna(), None, np.where(bools.fillna(False), "true", "false")), type=pa.large_string()
        )
    if pd.api.types.is_integer_dtype(dtype):
        return pa.array(raw, from_pandas=True).cast(pa.large_string())
    if pd.api.types.is_float_dtype(dtype):
        floats = raw.to_numpy(dtype=np.float64, na_value=np.nan)
        # numpy's str of a float64 is Python's repr: the shortest text that round-trips.
        text = np.where(np.isnan(floats), None, floats.astype(str).astype(object))
        return pa.array(text, type=pa.large_string())
    return pa.array([_value_as_text(value) for value in raw.to_numpy(dtype=object)], type=pa.large_string())


def _value_as_text(value: object) -> str | None:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else repr(float(value))
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return str(value)


# --- text to typed values ------------------------------------------------------------------


def coerce_text(text: pa.Array, name: str, type: CoercedType) -> CoercedColumn:
    if text.type != pa.large_string():
        text = text.cast(pa.large_string())
    if type in ("string", "category", "extra"):
        is_null = _to_numpy_bool(pc.or_kleene(pc.is_null(text), pc.equal(text, "")))
        state = np.where(is_null, NULL, VALUE).astype(np.uint8)
        return CoercedColumn(name, type, text, state, ())
    trimmed = pc.utf8_trim_whitespace(text)
    lowered = pc.utf8_lower(trimmed)
    is_null = _to_numpy_bool(pc.or_kleene(pc.is_null(text), pc.is_in(lowered, value_set=pa.array(NULL_TOKENS))))
    if type == "boolean":
        values, ok = _parse_booleans(lowered)
    elif type == "float":
        values, ok = _parse_floats(trimmed)
    else:
        values, ok = _parse_integers(trimmed)
    ok &= ~is_null
    state = np.where(is_null, NULL, np.where(ok, VALUE, UNREADABLE)).astype(np.uint8)
    return CoercedColumn(name, type, values, state, _unreadable_text(text, state))


def _to_numpy_bool(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.fill_null(array, False).to_numpy(zero_copy_only=False), dtype=bool)


def _parse_booleans(lowered: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    true = _to_numpy_bool(pc.is_in(lowered, value_set=pa.array(TRUE_TEXT)))
    false = _to_numpy_bool(pc.is_in(lowered, value_set=pa.array(FALSE_TEXT)))
    return true, true | false


def _parse_floats(trimmed: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    syntax = _to_numpy_bool(pc.match_substring_regex(trimmed, FLOAT_TEXT, ignore_case=True))
    values = np.zeros(len(trimmed), dtype=np.float64)
    if syntax.any():
        # Only well-formed text reaches the cast, so it cannot fail on one bad cell;
        # pyarrow parses with correct rounding, so "0.1" is the same double as Python's 0.1.
        parsed = pc.cast(pc.filter(trimmed, pa.array(syntax)), pa.float64()).to_numpy(zero_copy_only=False)
        values[syntax] = parsed
    ok = syntax & np.isfinite(values)
    values[~ok] = 0.0
    return values, ok


def _parse_integers(trimmed: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    digits = _to_numpy_bool(pc.match_substring_regex(trimmed, INTEGER_TEXT))
    values = np.zeros(len(trimmed), dtype=np.int64)
    ok = np.zeros(len(trimmed), dtype=bool)
    if digits.any():
        candidates = pc.replace_substring_regex(pc.filter(trimmed, pa.array(digits)), r"^\+", "")
        try:
            values[digits] = pc.cast(candidates, pa.int64()).to_numpy(zero_copy_only=False)
            ok |= digits
        except (pa.ArrowInvalid, OverflowError):
            # Some integer is beyond int64: sort them out one by one, rare enough to be slow.
            parsed = [int(text) for text in candidates.to_pylist()]
            fits = np.array([-(2**63) <= value < 2**63 for value in parsed], dtype=bool)
            positions = np.flatnonzero(digits)
            values[positions[fits]] = [value for value, good in zip(parsed, fits) if good]
            ok[positions[fits]] = True
    floats, float_ok = _parse_floats(trimmed)
    whole = float_ok & ~digits & (np.floor(floats) == floats) & (np.abs(floats) < INT64_LIMIT)
    values[whole] = floats[whole].astype(np.int64)
    return values, ok | whole


def _unreadable_text(text: pa.Array, state: np.ndarray) -> tuple[str, ...]:
    unreadable = state == UNREADABLE
    if not unreadable.any():
        return ()
    return tuple(str(value) for value in pc.filter(text, pa.array(unreadable)).to_pylist())


# --- typed numbers -------------------------------------------------------------------------


def _coerce_numbers(raw: pd.Series, name: str, type: ColumnType) -> CoercedColumn:
    if str(raw.dtype).lower() == "uint64" and (raw.dropna() >= 2**63).any():
        return coerce_text(as_text(raw), name, type)  # beyond int64: the text path flags them
    if pd.api.types.is_integer_dtype(raw.dtype) and not raw.hasnans:
        column = typed_integers(raw.to_numpy(dtype=np.int64), None, name, type)
    elif pd.api.types.is_integer_dtype(raw.dtype):
        # A nullable integer column (Int64 from Parquet): exact values, nulls from its mask.
        column = typed_integers(raw.fillna(0).to_numpy(dtype=np.int64), raw.isna().to_numpy(), name, type)
    else:
        column = typed_floats(raw.to_numpy(dtype=np.float64, na_value=np.nan), name, type)
    if readable(column) is None:
        return replace(column, unreadable_text=_unreadable_text(as_text(raw), column.state))
    return column


def typed_integers(numbers: np.ndarray, is_null: np.ndarray | None, name: str, type: ColumnType) -> CoercedColumn:
    """The column of int64 `numbers` (filler where `is_null`; None: no nulls) read as `type`.
    Unreadable cells are left without their raw text, which only the caller has."""
    if type == "integer":
        state = np.zeros(len(numbers), dtype=np.uint8) if is_null is None else np.where(is_null, NULL, VALUE)
        return CoercedColumn(name, type, numbers, state.astype(np.uint8, copy=False), ())
    if is_null is None:
        return _typed_numbers(numbers.astype(np.float64), np.zeros(len(numbers), dtype=bool), name, type)
    return _typed_numbers(np.where(is_null, np.nan, numbers.astype(np.float64)), is_null, name, type)


def typed_floats(floats: np.ndarray, name: str, type: ColumnType) -> CoercedColumn:
    """The column of float64 `floats` (NaN is null) read as `type`; unreadable cells without their text."""
    if type == "float" and np.isfinite(floats).all():
        # The common case, in one pass: every cell is a value and `floats` are the values.
        return CoercedColumn(name, type, floats, np.zeros(len(floats), dtype=np.uint8), ())
    return _typed_numbers(floats, np.isnan(floats), name, type)


def readable(column: CoercedColumn) -> CoercedColumn | None:
    """The column, or None when some cell of it is unreadable."""
    return None if (column.state == UNREADABLE).any() else column


def _typed_numbers(floats: np.ndarray, is_null: np.ndarray, name: str, type: ColumnType) -> CoercedColumn:
    """Values and states; unreadable cells are left without their text (the caller adds it)."""
    if type == "float":
        ok = np.isfinite(floats)
        values = np.where(ok, floats, 0.0)
    elif type == "integer":
        ok = np.isfinite(floats) & (np.floor(floats) == floats) & (np.abs(floats) < INT64_LIMIT)
        values = np.where(ok, floats, 0.0).astype(np.int64)
    else:
        ok = (floats == 0.0) | (floats == 1.0)
        values = floats == 1.0
    state = np.where(is_null, NULL, np.where(ok, VALUE, UNREADABLE)).astype(np.uint8)
    return CoercedColumn(name, type, values, state, ())


def _coerce_categorical(raw: pd.Series, name: str, type: CoercedType) -> CoercedColumn:
    categories = pd.Series(raw.cat.categories)
    return coerce_codes(
        coerce_column(categories, name, type),
        lambda: as_text(categories).to_pylist(),
        raw.cat.codes.to_numpy(),
        name,
        type,
    )


def coerce_codes(
    categories: CoercedColumn, category_text: Callable[[], list[str]], codes: np.ndarray, name: str, type: CoercedType
) -> CoercedColumn:
    """The column of a categorical: its (few) distinct `categories`, coerced once, spread over
    the `codes` (-1 for null); `category_text` gives their raw text, for unreadable cells."""
    is_null = codes < 0
    safe_codes = np.where(is_null, 0, codes)
    if len(categories.state) == 0:  # every value is null: there are no categories to take from
        state = np.full(len(codes), NULL, dtype=np.uint8)
        values = (
            pa.nulls(len(codes), pa.large_string())
            if categories.is_text
            else np.zeros(len(codes), dtype=_filler_dtype(type))
        )
        return CoercedColumn(name, type, values, state, ())
    state = np.where(is_null, NULL, categories.state[safe_codes]).astype(np.uint8)
    unreadable = state == UNREADABLE
    texts: tuple[str, ...] = ()
    if unreadable.any():
        category_text_list = category_text()
        texts = tuple(str(category_text_list[code]) for code in safe_codes[unreadable])
    if not categories.is_text:
        return CoercedColumn(name, type, np.asarray(categories.values)[safe_codes], state, texts)
    values = pc.take(categories.values, pa.array(safe_codes))
    return CoercedColumn(name, type, values, state, texts, Categories(categories.values, safe_codes))


def _filler_dtype(type: CoercedType) -> type:
    return {"integer": np.int64, "float": np.float64, "boolean": bool}[type]
