"""Coercion of an Arrow record batch (a slice of a partitioned source) without a pandas frame.

`coerce_batch(batch, schema)` is `coerce_table(batch.to_pandas(types_mapper=exact_pandas_type),
schema)`, the same CoercedTable, built faster: number columns read as integer or float, text
columns and dictionaries of texts go from the batch's Arrow arrays to the coerced arrays
directly, since building the frame and reading numbers back out of it cost more than the rest
of a streaming ingest. Every other column (booleans, dates, numbers read as text, a number
column with an unreadable cell, whose raw text coerce takes from pandas) is converted to
pandas alone and coerced by ballast.data.coerce as before.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ballast.api.dataset import DatasetSchema
from ballast.data.coerce import (
    CoercedColumn,
    CoercedTable,
    CoercedType,
    assemble_table,
    coerce_codes,
    coerce_column,
    coerce_table,
    coerce_text,
    readable,
    typed_floats,
    typed_integers,
)
from ballast.data.tables import exact_pandas_type

FLOATS = (pa.float32(), pa.float64())
INTEGERS = (pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint16(), pa.uint32())
"""uint64 is left to pandas: its values beyond int64 are read as text."""


def coerce_batch(batch: pa.RecordBatch, schema: DatasetSchema) -> CoercedTable:
    names = batch.schema.names
    if len(set(names)) != len(names) or _has_index_columns(batch.schema):
        # Duplicates are refused by coerce_table; index columns are not columns of the frame.
        return coerce_table(batch.to_pandas(types_mapper=exact_pandas_type), schema)

    def coerce(name: str, type: CoercedType) -> CoercedColumn:
        array = batch.column(name)
        direct = _coerced_directly(array, name, type)
        if direct is not None:
            return direct
        return coerce_column(batch.select([name]).to_pandas(types_mapper=exact_pandas_type)[name], name, type)

    return assemble_table(batch.num_rows, names, schema, coerce)


def _coerced_directly(array: pa.Array, name: str, type: CoercedType) -> CoercedColumn | None:
    """The column as coerce_column would read it from pandas, or None to let it do so."""
    if array.type in (pa.string(), pa.large_string()):
        return coerce_text(array, name, type)  # pandas' str column gives as_text this very text
    if pa.types.is_dictionary(array.type) and array.type.value_type in (pa.string(), pa.large_string()):
        return _coerced_dictionary(array, name, type)
    if type == "float" or type == "integer":
        if array.type in FLOATS:
            # Nulls read as NaN, as in pandas; float32 widens exactly, as pandas' to_numpy does.
            floats = array.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
            return readable(typed_floats(floats, name, type))
        if array.type in INTEGERS:
            if not array.null_count:
                return readable(typed_integers(array.to_numpy().astype(np.int64, copy=False), None, name, type))
            is_null = np.asarray(array.is_null().to_numpy(zero_copy_only=False), dtype=bool)
            numbers = pc.fill_null(array, 0).to_numpy().astype(np.int64, copy=False)
            return readable(typed_integers(numbers, is_null, name, type))
    return None


def _coerced_dictionary(array: pa.DictionaryArray, name: str, type: CoercedType) -> CoercedColumn | None:
    """A dictionary of texts as pandas' categorical of it: its categories coerced once."""
    dictionary = array.dictionary
    if dictionary.null_count or pc.count_distinct(dictionary).as_py() != len(dictionary):
        return None  # pandas' categories are distinct and not null: let it say what it makes of these
    codes = pc.fill_null(array.indices, -1).to_numpy(zero_copy_only=False)
    return coerce_codes(coerce_text(dictionary, name, type), dictionary.to_pylist, codes, name, type)


def _has_index_columns(schema: pa.Schema) -> bool:
    """Whether pandas' metadata names stored index columns (a RangeIndex is stored as metadata only)."""
    metadata = schema.pandas_metadata or {}
    return any(isinstance(index, str) for index in metadata.get("index_columns", []))
