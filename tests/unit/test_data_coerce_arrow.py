"""A record batch coerced without pandas is the table coerce_table makes of its pandas frame."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from ballast.api.dataset import DatasetSchema, DatasetSpec
from ballast.data.canonical import canonical_sha256
from ballast.data.coerce import CoercedTable, coerce_table
from ballast.data.coerce_arrow import coerce_batch
from ballast.data.profile_stream import StreamingProfile
from ballast.data.tables import exact_pandas_type
from ballast.data.validate import ValidationFindings

NUMBER_ARRAYS = {
    "float32 with nulls and NaN": pa.array([1.25, None, float("nan"), -0.0, 3e38], pa.float32()),
    "float64 with infinity": pa.array([1.0, float("inf"), None, 2.5, -float("inf")], pa.float64()),
    "float64 whole and not": pa.array([1.0, 2.5, -3.0, 1e300, 4.0], pa.float64()),
    "int16 with nulls": pa.array([1, None, -3, 7, None], pa.int16()),
    "int64 without nulls": pa.array([1, 2**62, -(2**63), 0, 5], pa.int64()),
    "uint32": pa.array([0, 1, 2**32 - 1, 5, 6], pa.uint32()),
    "uint64 beyond int64": pa.array([0, 2**64 - 1, None, 3, 2**63], pa.uint64()),
    "float32 booleans": pa.array([0.0, 1.0, 2.0, None, 1.0], pa.float32()),
    "strings": pa.array([" 1.5", "x", None, "", "NaN"], pa.string()),
    "large strings": pa.array(["7", "1e3", "-2", "1.5", None], pa.large_string()),
    "booleans": pa.array([True, False, None, True, True]),
    "dictionary": pa.array(["1", "2", None, "x", "2"]).dictionary_encode(),
}


def assert_same(actual: CoercedTable, expected: CoercedTable) -> None:
    assert (actual.rows, actual.missing) == (expected.rows, expected.missing)
    pairs = list(zip(actual.columns + actual.extras, expected.columns + expected.extras, strict=True))
    for mine, theirs in pairs:
        assert (mine.name, mine.type, mine.unreadable_text) == (theirs.name, theirs.type, theirs.unreadable_text)
        np.testing.assert_array_equal(mine.state, theirs.state)
        if isinstance(theirs.values, pa.Array):
            assert mine.values.equals(theirs.values)
        else:
            assert np.asarray(mine.values).dtype == np.asarray(theirs.values).dtype
            # Bit for bit: -0.0 and 0.0 differ here, as they do in a snapshot.
            assert np.asarray(mine.values).tobytes() == np.asarray(theirs.values).tobytes()
    names = [column.name for column in expected.columns] + list(expected.missing)
    assert canonical_sha256(actual, names) == canonical_sha256(expected, names)


@pytest.mark.parametrize("declared", ["float", "integer", "boolean", "string", "category"])
@pytest.mark.parametrize("kind", sorted(NUMBER_ARRAYS))
def test_every_column_coerces_as_from_its_pandas_frame(kind: str, declared: str):
    batch = pa.record_batch({"x": NUMBER_ARRAYS[kind], "other": pa.array([1.5] * 5)})
    schema = DatasetSchema.model_validate(
        {"columns": [{"name": "x", "type": declared}, {"name": "gone", "type": "float"}]}
    )

    expected = coerce_table(batch.to_pandas(types_mapper=exact_pandas_type), schema)

    assert_same(coerce_batch(batch, schema), expected)


def test_a_batch_written_by_pandas_with_its_index_reads_as_pandas_reads_it():
    frame = pd.DataFrame({"x": [1.5, 2.5, None]}, index=pd.Index([10, 11, 12], name="id"))
    batch = pa.RecordBatch.from_pandas(frame)  # the index is stored as a column named in the metadata
    schema = DatasetSchema.model_validate(
        {"columns": [{"name": "x", "type": "float"}, {"name": "id", "type": "integer"}]}
    )

    coerced = coerce_batch(batch, schema)

    assert_same(coerced, coerce_table(batch.to_pandas(types_mapper=exact_pandas_type), schema))
    assert coerced.missing == ("id",)


def test_duplicate_columns_are_refused_as_for_a_frame():
    batch = pa.RecordBatch.from_arrays([pa.array([1.0]), pa.array([2.0])], names=["x", "x"])
    schema = DatasetSchema.model_validate({"columns": [{"name": "x", "type": "float"}]})

    with pytest.raises(ValueError, match="duplicate column names"):
        coerce_batch(batch, schema)


def test_a_categorical_read_by_its_codes_gives_what_its_texts_give():
    kind = pa.array(["b", None, "a", "b", "zz", "", "a", None], pa.string()).dictionary_encode()
    batch = pa.record_batch({"kind": kind})
    spec = DatasetSpec.model_validate(
        {
            "source": {"inline": {"rows": [{"kind": "a"}]}},
            "schema": {"columns": [{"name": "kind", "type": "category", "allowedValues": ["a", "b"]}]},
        }
    )
    by_codes = coerce_batch(batch, spec.schema_)
    by_texts = CoercedTable(
        by_codes.rows, tuple(replace(column, categories=None) for column in by_codes.columns), (), ()
    )
    assert by_codes.columns[0].categories is not None

    assert by_codes.arrow().equals(by_texts.arrow())
    assert ValidationFindings.of(by_codes, spec) == ValidationFindings.of(by_texts, spec)
    profiles = []
    for table in (by_codes, by_texts):
        profile = StreamingProfile(spec.schema_)
        profile.update(table)
        profile.update(table)
        profiles.append(profile.profile())
    assert profiles[0] == profiles[1]
    assert profiles[0]["columns"]["kind"]["frequencies"][0] == {"value": "a", "count": 4}
