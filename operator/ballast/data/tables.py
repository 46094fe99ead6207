"""Raw tables from the bytes of each format, before any coercion.

The readers keep values as close to the source as possible (CSV fields stay text, Parquet
integers stay exact), because coercion to the schema, and the reporting of bad values,
happens in one place: ballast.data.coerce.
"""

from __future__ import annotations

import io
import os
from typing import Any, BinaryIO, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ballast.data.errors import SourceTooLarge, SourceUnreadable
from ballast.store.streams import CHUNK

TableFormat = Literal["csv", "parquet"]
Readable = str | os.PathLike[str] | BinaryIO
# pandas holds a line, and every field of it, several times over while it parses; a row of
# a table Ballast trains on is nowhere near this long.
MAX_CSV_LINE_BYTES = 1 << 20


def inline_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Inline rows as object columns (no type inference: coercion reads each value as it is).

    Columns come in the order they first appear; a key missing from a row is a null.
    """
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(str(key) for key in row))
    return pd.DataFrame(
        {name: pd.Series([row.get(name) for row in rows], dtype=object) for name in names},
        index=pd.RangeIndex(len(rows)),
    )


def read_csv_raw(source: Readable | bytes, max_line_bytes: int = MAX_CSV_LINE_BYTES) -> pd.DataFrame:
    """Every field as text, the empty field as "" (coercion decides what is null per type).

    Blank lines are not rows (as most CSV writers and readers agree), so a one-column CSV
    writes a null as NA rather than as an empty line.
    """
    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as handle:
            return read_csv_raw(handle, max_line_bytes)
    refuse_long_lines(source, max_line_bytes)
    try:
        return pd.read_csv(
            source, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8-sig", skip_blank_lines=True
        )
    except pd.errors.EmptyDataError:
        raise SourceUnreadable("the CSV is empty: not even a header line") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
        raise SourceUnreadable(f"not a readable UTF-8 CSV: {first_line(error)}") from None


def refuse_long_lines(stream: BinaryIO, max_line_bytes: int) -> None:
    """SourceTooLarge when a line is longer than max_line_bytes; reads the stream in chunks
    (memory stays at one chunk, and a too-long line stops the scan) and rewinds it."""
    start = stream.tell()
    line, length = 1, 0  # the line being scanned, and its bytes so far
    while chunk := stream.read(CHUNK):
        ends = np.flatnonzero(np.frombuffer(chunk, dtype=np.uint8) == ord("\n"))
        lengths = np.diff(ends, prepend=-1) - 1  # of the lines that end in this chunk
        if len(ends):
            lengths[0] += length
        too_long = np.flatnonzero(lengths > max_line_bytes)
        if len(too_long):
            _line_too_long(line + int(too_long[0]), max_line_bytes)
        line += len(ends)
        length = len(chunk) - int(ends[-1]) - 1 if len(ends) else length + len(chunk)
        if length > max_line_bytes:
            _line_too_long(line, max_line_bytes)
    stream.seek(start)


def _line_too_long(line: int, max_line_bytes: int) -> None:
    raise SourceTooLarge(
        f"line {line} of the CSV is longer than {max_line_bytes} bytes, the most one line may "
        "have; a line that long is not a row of a table"
    )


def exact_pandas_type(arrow_type: pa.DataType) -> Any:
    """Integers with nulls stay exact (nullable Int64) instead of turning into float64."""
    if pa.types.is_integer(arrow_type):
        return pd.api.types.pandas_dtype(str(arrow_type).replace("int", "Int").replace("uInt", "UInt"))
    return None


def read_parquet_raw(source: Readable | bytes) -> pd.DataFrame:
    if isinstance(source, (bytes, bytearray)):
        source = pa.BufferReader(source)
    try:
        table = pq.read_table(source)
    except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as error:
        raise SourceUnreadable(f"not a readable Parquet file: {first_line(error)}") from None
    if len(set(table.column_names)) != len(table.column_names):
        raise SourceUnreadable(f"the Parquet file has duplicate column names: {table.column_names}")
    frame = table.to_pandas(types_mapper=exact_pandas_type)
    return frame.reset_index(drop=True)


def read_raw_table(source: Readable | bytes, format: TableFormat) -> pd.DataFrame:
    if format == "csv":
        return read_csv_raw(source)
    if format == "parquet":
        return read_parquet_raw(source)
    raise ValueError(f"unknown table format {format!r}")


def first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
