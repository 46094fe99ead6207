"""Ingest of 1M rows x 50 features: coercion, canonical sha256, validation, profile, snapshot.

    .venv/bin/python benchmarks/ingest_profile.py [--rows 1000000] [--csv]

Generates the table in memory (35 float, 5 integer, 6 category, 2 boolean and 2 string
features plus a category target; 1% nulls in the nullable floats), then times each stage of
an ingest separately and the verified read-back a trainer does. Prints each stage's wall time
and the process's peak RSS after it (ru_maxrss is a high-water mark, so it only grows), plus
pyarrow's peak pool allocation. With --csv, also times reading the same table from CSV text
(every field parsed from text: the slow path). Not a test: nothing here asserts a budget.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from typing import TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa

import figures
from ballast.api.dataset import DatasetSpec
from ballast.data.assess import schema_column_names
from ballast.data.canonical import canonical_sha256
from ballast.data.coerce import coerce_table
from ballast.data.profile import profile_table
from ballast.data.snapshot import Assessment, read_snapshot, write_snapshot
from ballast.data.tables import read_csv_raw
from ballast.data.validate import validate_table
from ballast.store import ArtifactStore

T = TypeVar("T")
KINDS = ["float"] * 35 + ["integer"] * 5 + ["category"] * 6 + ["boolean"] * 2 + ["string"] * 2


def generate(rows: int, seed: int = 7) -> tuple[pd.DataFrame, DatasetSpec]:
    rng = np.random.default_rng(seed)
    data: dict[str, object] = {}
    columns: list[dict] = []
    for index, kind in enumerate(KINDS):
        name = f"f{index:02d}_{kind}"
        if kind == "float":
            values = rng.normal(index, 1 + index / 10, rows)
            nullable = index % 5 == 0
            if nullable:
                values[rng.random(rows) < 0.01] = np.nan
            data[name] = values
            columns.append({"name": name, "type": "float", "nullable": nullable})
        elif kind == "integer":
            data[name] = rng.integers(0, 10_000, rows)
            columns.append({"name": name, "type": "integer", "minimum": 0, "maximum": 10_000})
        elif kind == "category":
            levels = [f"level-{i}" for i in range(5 + 10 * (index % 4))]
            data[name] = pd.Categorical.from_codes(rng.integers(0, len(levels), rows), categories=levels)
            columns.append({"name": name, "type": "category", "allowedValues": levels})
        elif kind == "boolean":
            data[name] = rng.random(rows) < 0.3
            columns.append({"name": name, "type": "boolean"})
        else:
            # A high-cardinality text column (ids) and a low-cardinality one.
            cardinality = rows if index % 2 else 1000
            data[name] = pd.Series(rng.integers(0, cardinality, rows).astype(str), dtype="str")
            columns.append({"name": name, "type": "string"})
    data["target"] = pd.Categorical.from_codes(rng.integers(0, 2, rows), categories=["no", "yes"])
    columns.append({"name": "target", "type": "category"})
    spec = DatasetSpec.model_validate(
        {
            "source": {"url": "http://bench/data.parquet"},
            "format": "parquet",
            "schema": {"columns": columns, "target": "target"},
        }
    )
    return pd.DataFrame(data), spec


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def timed(label: str, action: Callable[[], T]) -> T:
    started = time.perf_counter()
    result = action()
    elapsed = time.perf_counter() - started
    print(f"{label:<34} {elapsed:8.2f} s   peak RSS {peak_rss_mib():8.0f} MiB", flush=True)
    return result


FIGURES = figures.Section("ingest_profile", figures.BENCHMARKS_DOC)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--csv", action="store_true", help="also time the CSV (text) path")
    figures.add_update_option(parser, FIGURES)
    return parser


def run(args: argparse.Namespace) -> None:
    print(
        f"ingest benchmark: {args.rows} rows x {len(KINDS)} features + target; "
        f"Python {platform.python_version()}, pandas {pd.__version__}, pyarrow {pa.__version__}, "
        f"{os.cpu_count()} CPUs"
    )
    raw, spec = timed("generate (not part of ingest)", lambda: generate(args.rows))
    print(f"{'':<34} in-memory table: {raw.memory_usage(deep=True).sum() / 2**20:.0f} MiB")
    names = schema_column_names(spec.schema_)

    table = timed("coerce to the schema", lambda: coerce_table(raw, spec.schema_))
    sha256 = timed("canonical sha256", lambda: canonical_sha256(table, names))
    violations = timed("validate", lambda: validate_table(table, spec))
    profile = timed("profile", lambda: profile_table(table, spec.schema_))
    assert not violations, violations[:3]
    assert len(profile["columns"]) == len(KINDS) + 1

    with tempfile.TemporaryDirectory(prefix="ballast-bench-") as directory:
        store = ArtifactStore(f"file://{directory}")
        assessment = Assessment(table=table, sha256=sha256, violations=tuple(violations))
        record = timed(
            "snapshot write (parquet + json)",
            lambda: write_snapshot(store, "bench", spec, assessment, {"kind": "bench"}, "2026-01-01T00:00:00Z"),
        )
        size = store.size(record.snapshot_uri)
        print(f"{'':<34} data.parquet: {size / 2**20:.0f} MiB")
        frame = timed("read_snapshot (verified)", lambda: read_snapshot(store, record.snapshot_uri, sha256))
        assert frame.shape == (args.rows, len(KINDS) + 1)

    if args.csv:
        text = timed("to CSV text (not part of ingest)", lambda: raw.to_csv(index=False).encode())
        csv_raw = timed("parse CSV (all fields as text)", lambda: read_csv_raw(io.BytesIO(text)))
        csv_table = timed("coerce CSV text to the schema", lambda: coerce_table(csv_raw, spec.schema_))
        same = canonical_sha256(csv_table, names) == sha256
        print(f"{'':<34} CSV gives the same sha256: {same}")

    print(f"sha256 {sha256}")
    print(
        f"peak RSS {peak_rss_mib():.0f} MiB; pyarrow pool peak {pa.default_memory_pool().max_memory() / 2**20:.0f} MiB"
    )


if __name__ == "__main__":
    sys.exit(figures.run_benchmark(FIGURES, build_parser(), run))
