"""Coercion and validation: every violation, all at once, each naming its column and rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ballast.api.dataset import DatasetSpec
from ballast.data.assess import assess
from ballast.data.coerce import NULL, UNREADABLE, VALUE, coerce_column
from ballast.data.tables import inline_frame, read_csv_raw, read_parquet_raw


def spec_of(columns: list[dict], **validation) -> DatasetSpec:
    return DatasetSpec.model_validate(
        {"source": {"url": "http://x"}, "schema": {"columns": columns}, "validation": validation or None}
    )


def test_a_clean_table_has_no_violations():
    spec = spec_of(
        [
            {"name": "age", "type": "integer", "minimum": 0, "maximum": 120},
            {"name": "income", "type": "float", "nullable": True},
            {"name": "member", "type": "boolean"},
            {"name": "plan", "type": "category", "allowedValues": ["basic", "pro"]},
        ],
        minRows=2,
    )
    raw = read_csv_raw(b"age,income,member,plan\n31,1200.5,true,basic\n47,,FALSE,pro\n")
    assert assess(raw, spec).violations == ()


def test_every_violation_is_reported_at_once():
    spec = spec_of(
        [
            {"name": "age", "type": "integer", "minimum": 0, "maximum": 120},
            {"name": "income", "type": "float", "nullable": True},
            {"name": "member", "type": "boolean"},
            {"name": "plan", "type": "category", "allowedValues": ["basic", "pro"]},
            {"name": "city", "type": "string"},
            {"name": "score", "type": "float", "nullable": True},
        ],
        minRows=10,
        maxNullFraction=0.5,
    )
    raw = read_csv_raw(
        b"age,income,member,plan,score,unexpected\n"
        b"31,abc,true,basic,,1\n"
        b"-4,12.5,maybe,gold,,2\n"
        b"250,x1,false,pro,,3\n"
        b"2.5,7,,basic,1.0,4\n"
    )
    violations = assess(raw, spec).violations
    assert violations == (
        "the table has 4 rows, fewer than the minimum of 10",
        "column city: missing from the data",
        "column unexpected: not in the schema",
        "column age: 1 value is not a whole number (first at row 4)",
        "column age: 1 value is below the minimum of 0 (smallest at row 2)",
        "column age: 1 value is above the maximum of 120 (largest at row 3)",
        "column income: 2 values are not finite numbers (first at row 1)",
        "column member: 1 value is not a boolean (true/false/1/0) (first at row 2)",
        "column member: 1 value is missing but the column is not nullable (first at row 4)",
        "column plan: 1 value is not among the allowed values (first at row 2)",
        "column score: 75% of values are missing, more than the maximum of 50%",
    )


def test_the_same_bad_data_from_inline_rows_gives_the_same_violations_and_sha():
    spec = spec_of([{"name": "x", "type": "float"}, {"name": "n", "type": "integer", "nullable": True}])
    inline = assess(inline_frame([{"x": 1.5, "n": 1}, {"x": "abc", "n": None}, {"x": True, "n": 2.5}]), spec)
    csv = assess(read_csv_raw(b"x,n\n1.5,1\nabc,\ntrue,2.5\n"), spec)
    assert (
        inline.violations
        == csv.violations
        == (
            "column x: 2 values are not finite numbers (first at row 2)",
            "column n: 1 value is not a whole number (first at row 3)",
        )
    )
    assert inline.sha256 == csv.sha256


def test_null_fraction_is_checked_for_nullable_columns_too():
    spec = spec_of([{"name": "x", "type": "float", "nullable": True}], maxNullFraction=0.25)
    assert assess(inline_frame([{"x": None}, {"x": 1.0}]), spec).violations == (
        "column x: 50% of values are missing, more than the maximum of 25%",
    )


def test_an_empty_table_breaks_min_rows():
    spec = spec_of([{"name": "x", "type": "float"}])
    assert assess(read_csv_raw(b"x\n"), spec).violations == ("the table has 0 rows, fewer than the minimum of 1",)


@pytest.mark.parametrize(
    ("type", "raw", "values", "states"),
    [
        (
            "integer",
            ["1", " 2 ", "+3", "-4", "1e3", "2.0", "2.5", "abc", "", "NA", "99999999999999999999"],
            [1, 2, 3, -4, 1000, 2, 0, 0, 0, 0, 0],
            [0, 0, 0, 0, 0, 0, 2, 2, 1, 1, 2],
        ),
        (
            "float",
            ["0.1", "1", "-2.5e-3", " 7 ", "inf", "nan", "None", "1,5", ".5"],
            [0.1, 1.0, -0.0025, 7.0, 0, 0, 0, 0, 0.5],
            [0, 0, 0, 0, 2, 1, 1, 2, 0],
        ),
        (
            "boolean",
            ["true", "False", "1", "0", "yes", "", "TRUE "],
            [True, False, True, False, False, False, True],
            [0, 0, 0, 0, 2, 1, 0],
        ),
        ("string", ["a", " b ", "", "NA", "null"], ["a", " b ", None, "NA", "null"], [0, 0, 1, 0, 0]),
    ],
)
def test_coercion_of_text(type, raw, values, states):
    column = coerce_column(pd.Series(raw, dtype="str"), "c", type)
    assert column.state.tolist() == states
    if column.is_text:
        kept = [v if s == VALUE else None for v, s in zip(column.values.to_pylist(), states)]
        assert kept == values
    else:
        kept = np.asarray(column.values)[column.state == VALUE].tolist()
        assert kept == [v for v, s in zip(values, states) if s == VALUE]


def test_big_integers_stay_exact_from_every_source():
    big = 2**62 + 1  # not representable as a float64
    spec = spec_of([{"name": "n", "type": "integer"}])
    frame = pd.DataFrame({"n": pd.array([big, -big], dtype="Int64")})
    import io

    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    for raw in (
        inline_frame([{"n": big}, {"n": -big}]),
        read_csv_raw(f"n\n{big}\n{-big}\n".encode()),
        read_parquet_raw(buffer.getvalue()),
    ):
        column = assess(raw, spec).table.column("n")
        assert column.values.tolist() == [big, -big] and column.state.tolist() == [0, 0]


def test_typed_numbers_are_coerced_without_text():
    floats = pd.Series([1.0, 2.5, np.nan, np.inf])
    as_integer = coerce_column(floats, "c", "integer")
    assert as_integer.state.tolist() == [VALUE, UNREADABLE, NULL, UNREADABLE]
    assert as_integer.unreadable_text == ("2.5", "inf")
    as_boolean = coerce_column(pd.Series([0, 1, 2]), "c", "boolean")
    assert as_boolean.state.tolist() == [VALUE, VALUE, UNREADABLE]
    assert np.asarray(as_boolean.values)[:2].tolist() == [False, True]


def test_violation_lists_do_not_grow_with_the_number_of_bad_rows():
    spec = spec_of([{"name": "x", "type": "float"}])
    raw = pd.DataFrame({"x": pd.Series(["bad"] * 100_000, dtype="str")})
    assert assess(raw, spec).violations == ("column x: 100000 values are not finite numbers (first at row 1)",)
