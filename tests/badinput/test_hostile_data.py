"""Hostile data, read the way the ingest pod reads it (`ballast ingest`, no cluster).

Formula injection, decided: Ballast never evaluates data and never rewrites it. A cell such
as `=cmd|' /C calc'!A0` is a string like any other: it is stored byte for byte in the
snapshot and in profile.json (escaping it would change the version's sha256 and what a model
trains on, and JSON is no spreadsheet format; Ballast writes no CSV). Where a value reaches
text a person reads (violations, condition messages, Events), it is quoted with repr()
inside a sentence that starts with "column ..." or "the table ...", so no line and no cell
Ballast emits starts with =, +, - or @. In a numeric column a formula is an unreadable
value, never its result.
"""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ballast.data.tables
from ballast.data.errors import SourceTooLarge
from ballast.data.tables import MAX_CSV_LINE_BYTES, refuse_long_lines
from ballast.runtime.ingest import EXIT_OK, EXIT_SOURCE, IngestOptions, fit_termination_message, run_ingest
from ballast.store import ArtifactStore

FORMULAS = [
    "=cmd|' /C calc'!A0",
    "+SUM(1,2)",
    "-2+3+cmd|' /C notepad'!A1",
    "@SUM(A1:A9)",
    '=HYPERLINK("http://127.0.0.1:1/x","click")',
    "\t=1+1",
    "\r=1+1",
]
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def ingest(tmp_path: Path, spec: dict, name: str = "hostile") -> tuple[int, dict]:
    """`ballast ingest` of spec, with pvc sources read from tmp_path/volume; (exit status, result)."""
    (tmp_path / "dataset.json").write_text(json.dumps({"metadata": {"name": name}, "spec": spec}))
    options = IngestOptions(
        dataset_json_path=str(tmp_path / "dataset.json"),
        store_uri=f"file://{tmp_path / 'store'}",
        termination_log=str(tmp_path / "termination-log"),
        source_root=str(tmp_path / "volume"),
        environ={},
    )
    code = run_ingest(options)
    return code, json.loads((tmp_path / "termination-log").read_text())


def pvc_spec(path: str, columns: list[dict], fmt: str = "csv", **validation) -> dict:
    return {
        "source": {"pvc": {"claimName": "data", "path": path}},
        "format": fmt,
        "schema": {"columns": columns},
        "validation": validation or {"minRows": 1},
    }


@pytest.fixture
def volume(tmp_path: Path) -> Path:
    (tmp_path / "volume").mkdir()
    return tmp_path / "volume"


def formula_csv() -> bytes:
    # every field quoted: pandas' to_csv and csv's QUOTE_MINIMAL both leave a bare \r
    # unquoted when the line ends in \n, and a reader rightly takes that \r for a line break
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(["note", "kind", "amount"])
    writer.writerows([formula, "=1+1", "+5"] for formula in FORMULAS)
    return out.getvalue().encode()


def test_formulas_are_stored_and_profiled_verbatim_as_plain_strings(tmp_path: Path, volume: Path):
    (volume / "formulas.csv").write_bytes(formula_csv())
    code, result = ingest(
        tmp_path,
        pvc_spec(
            "formulas.csv",
            [
                {"name": "note", "type": "string"},
                {"name": "kind", "type": "category", "allowedValues": ["=1+1"]},
                {"name": "amount", "type": "float"},
            ],
        ),
    )
    assert (code, result["ok"], result["valid"]) == (EXIT_OK, True, True), result
    store = ArtifactStore(f"file://{tmp_path / 'store'}")
    snapshot = pq.read_table(io.BytesIO(store.read_bytes(result["snapshotUri"]))).to_pandas()
    assert snapshot["note"].tolist() == FORMULAS
    assert snapshot["kind"].tolist() == ["=1+1"] * len(FORMULAS)
    assert snapshot["amount"].tolist() == [5.0] * len(FORMULAS)  # "+5" is a number, to a spreadsheet too
    profile = store.read_json(result["profileUri"])
    assert sorted(entry["value"] for entry in profile["columns"]["note"]["frequencies"]) == sorted(FORMULAS)
    assert profile["columns"]["kind"]["frequencies"] == [{"value": "=1+1", "count": len(FORMULAS)}]


def test_a_formula_in_a_numeric_column_is_unreadable_and_quoted_never_evaluated(tmp_path: Path, volume: Path):
    header = ",".join(["\"=cmd|' /C calc'!A0\"", "score", "count"])
    (volume / "numbers.csv").write_text(f"{header}\nx,=1+1,@SUM(A1)\ny,-2+3,+7\n")
    code, result = ingest(
        tmp_path, pvc_spec("numbers.csv", [{"name": "score", "type": "float"}, {"name": "count", "type": "integer"}])
    )
    assert (code, result["valid"]) == (EXIT_OK, False), result
    violations = result["violations"]
    assert "column score: 2 values are not finite numbers (first at row 1)" in violations
    assert "column count: 1 value is not a whole number (first at row 1)" in violations
    assert "column =cmd|' /C calc'!A0: not in the schema" in violations
    assert not [v for v in violations if v.startswith(FORMULA_TRIGGERS)]
    # and never a result of evaluating one: 2 for =1+1, 1 for -2+3
    assert not any(re.search(r"\b(2\.0|1\.0)\b", v) for v in violations)


def test_a_100_mb_line_is_refused_before_parsing_in_bounded_memory(tmp_path: Path, volume: Path):
    with (volume / "huge.csv").open("wb") as handle:
        handle.write(b"x,y\n1,2\n3,")
        for _ in range(100):
            handle.write(b"a" * (1 << 20))
        handle.write(b"\n4,5\n")
    (volume / "small.csv").write_bytes(b"x,y\n1,2\n")
    columns = [{"name": "x", "type": "float"}, {"name": "y", "type": "string"}]
    huge = peak_memory_of_ingest(tmp_path / "huge", pvc_spec("huge.csv", columns), volume)
    small = peak_memory_of_ingest(tmp_path / "small", pvc_spec("small.csv", columns), volume)
    assert small["code"] == EXIT_OK and huge["code"] == EXIT_SOURCE, (small, huge)
    assert huge["result"]["reason"] == "SourceTooLarge"
    assert huge["result"]["message"].startswith(f"line 3 of the CSV is longer than {MAX_CSV_LINE_BYTES} bytes")
    # before the line limit pandas took about 420 MiB more for this file than for a tiny one
    assert huge["peak_kib"] - small["peak_kib"] < 64 * 1024, (huge["peak_kib"], small["peak_kib"])


MEASURE_INGEST = """
import json, resource, sys
from ballast.runtime.ingest import IngestOptions, run_ingest
work, spec, volume = sys.argv[1:4]
options = IngestOptions(dataset_json_path=spec, store_uri="file://" + work + "/store", source_root=volume,
                        termination_log=work + "/termination-log", environ={})
code = run_ingest(options)
print(json.dumps({"code": code, "result": json.load(open(work + "/termination-log")),
                  "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def peak_memory_of_ingest(work: Path, spec: dict, volume: Path) -> dict:
    """An ingest in a process of its own, and that process's peak resident memory."""
    work.mkdir()
    (work / "dataset.json").write_text(json.dumps({"metadata": {"name": "big"}, "spec": spec}))
    done = subprocess.run(
        [sys.executable, "-c", MEASURE_INGEST, str(work), str(work / "dataset.json"), str(volume)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(st.integers(0, 12), max_size=8),
    final_newline=st.booleans(),
    limit=st.integers(0, 10),
    chunk=st.integers(1, 9),
)
def test_the_line_scan_names_the_first_line_that_is_too_long(lines, final_newline, limit, chunk):
    data = b"\n".join(b"x" * length for length in lines) + (b"\n" if final_newline and lines else b"")
    expected = next((number for number, line in enumerate(data.split(b"\n"), 1) if len(line) > limit), None)
    stream = io.BytesIO(b"already read" + data)
    stream.read(len(b"already read"))
    original, ballast.data.tables.CHUNK = ballast.data.tables.CHUNK, chunk  # lines straddle chunks every way
    try:
        refuse_long_lines(stream, limit)
        found = None
        assert stream.tell() == len(b"already read"), "the scan must rewind to where it started"
    except SourceTooLarge as error:
        found = int(re.match(r"line (\d+) ", str(error)).group(1))
    finally:
        ballast.data.tables.CHUNK = original
    assert found == expected


def test_a_header_of_thousands_of_unknown_columns_gives_a_short_bounded_report(tmp_path: Path, volume: Path):
    width = 5000
    header = ",".join(f"c{index}" for index in range(width))
    (volume / "wide.csv").write_text(header + "\n" + ",".join("1" * width) + "\n")
    code, result = ingest(tmp_path, pvc_spec("wide.csv", [{"name": "c0", "type": "float"}]))
    assert (code, result["valid"], result["violationCount"]) == (EXIT_OK, False, width - 1)
    assert result["violationsTruncated"] and 0 < len(result["violations"]) < width - 1
    assert len((tmp_path / "termination-log").read_bytes()) <= 4096


def test_fitting_thirty_thousand_violations_into_the_termination_message_does_not_hang():
    violations = [f"column c{index}: not in the schema" for index in range(30_000)]
    started = time.monotonic()
    message = fit_termination_message({"ok": True, "violations": violations, "violationsTruncated": False})
    # dropping one violation at a time took about 40 s here (hours at 100,000): a hang guard, not a budget
    assert time.monotonic() - started < 10
    kept = json.loads(message)["violations"]
    assert kept == violations[: len(kept)] and len(message.encode()) <= 4096
    assert (
        len(
            json.dumps(
                {"ok": True, "violations": violations[: len(kept) + 1], "violationsTruncated": True},
                separators=(",", ":"),
            ).encode()
        )
        > 4096
    ), "it keeps as many as fit"


PARQUET_COLUMNS = {
    "string": pa.array(["1.5", "abc", None]),
    "binary": pa.array([b"\x00\xff", b"x", None]),
    "dictionary": pa.array(["a", "b", None]).dictionary_encode(),
    "timestamp": pa.array([pd.Timestamp("2020-01-01"), None, pd.Timestamp("2021-01-01")]),
    "list": pa.array([[1, 2], None, []]),
    "struct": pa.array([{"a": 1}, None, {"a": 2}]),
    "null": pa.array([None, None, None], type=pa.null()),
    "uint64": pa.array([2**64 - 1, None, 0], type=pa.uint64()),
    "float-with-inf": pa.array([float("nan"), float("inf"), 2.5]),
    "boolean": pa.array([True, None, False]),
}


@pytest.mark.parametrize("declared", ["integer", "float", "string", "boolean", "category"])
@pytest.mark.parametrize("stored", sorted(PARQUET_COLUMNS))
def test_parquet_whose_stored_types_differ_from_the_declared_ones_is_judged_not_crashed_on(
    tmp_path: Path, volume: Path, stored: str, declared: str
):
    pq.write_table(pa.table({"c": PARQUET_COLUMNS[stored]}), volume / "typed.parquet")
    code, result = ingest(
        tmp_path, pvc_spec("typed.parquet", [{"name": "c", "type": declared, "nullable": True}], fmt="parquet")
    )
    assert code == EXIT_OK and result["ok"], result
    assert result["valid"] or all(v.startswith("column c: ") for v in result["violations"]), result


def test_parquet_declared_float_but_stored_as_text_names_the_first_bad_value(tmp_path: Path, volume: Path):
    pq.write_table(pa.table({"price": pa.array(["1.5", "abc", "2", "=1+1"])}), volume / "prices.parquet")
    code, result = ingest(tmp_path, pvc_spec("prices.parquet", [{"name": "price", "type": "float"}], fmt="parquet"))
    assert (code, result["valid"]) == (EXIT_OK, False)
    assert result["violations"] == ["column price: 2 values are not finite numbers (first at row 2)"]


def test_bytes_that_claim_to_be_parquet_are_unreadable_not_a_crash(tmp_path: Path, volume: Path):
    (volume / "fake.parquet").write_bytes(b"PAR1" + b"\xff" * 64 + b"PAR1")
    code, result = ingest(tmp_path, pvc_spec("fake.parquet", [{"name": "c", "type": "float"}], fmt="parquet"))
    assert (code, result["ok"], result["reason"]) == (EXIT_SOURCE, False, "SourceUnreadable"), result
