"""Ingest of partitioned Parquet, streamed, beside the in-memory path and the raw read of the same bytes.

    .venv/bin/python benchmarks/ingest_partitioned.py [--sizes 1000000 10000000 50000000]
        [--in-memory-max-rows 10000000] [--workdir /tmp] [--stages] [--update]

For each size, generates that many rows x 20 float features + a two-level category target as
Parquet files of `--rows-per-file` rows (zstd; the features are float32 with two decimals, as
measured values often are, so the data and the snapshot compress and fit a small disk), then
runs three things, each in a child process whose peak RSS (ru_maxrss from wait4) is reported:

- raw read:   pyarrow reads every record batch of the files and drops it (the floor);
- streaming:  `ballast.data.stream_ingest.ingest_batches` (coerce, v2 sha256, validation,
              profile, snapshot parts) of the source's record batches into a file:// store;
- in memory:  the single-file path (all files read into one frame, then `ingest_table`), only
              for sizes up to --in-memory-max-rows.

Throughput is rows per second of wall time, of the fastest of `--repeats` runs (3) of the raw
read and of the stream (the in-memory path runs once). With `--stages`, a fourth child runs the
streaming pass's stages one after another on one thread and prints each one's CPU seconds
(process time, so pyarrow's decoding threads count): where the time goes, which the threaded
pass hides.
Everything generated for a size is deleted before the next. The budgets the streaming path is
held to: peak RSS at most 1 GiB and flat as rows grow, throughput within 3x of the raw read.
Not part of CI (a unit test runs it tiny).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import figures

FEATURES = 20
FIGURES = figures.Section("ingest_partitioned", figures.BENCHMARKS_DOC)
RSS_BUDGET_MIB = 1024
THROUGHPUT_BUDGET = 3.0


def spec_document() -> dict:
    columns = [{"name": f"f{index:02d}", "type": "float"} for index in range(FEATURES)]
    columns.append({"name": "target", "type": "category", "allowedValues": ["no", "yes"]})
    return {
        "source": {"pvc": {"claimName": "bench", "path": "data", "partitioned": True}},
        "format": "parquet",
        "schema": {"columns": columns, "target": "target"},
    }


def generate(directory: Path, rows: int, rows_per_file: int, seed: int = 11) -> int:
    """Writes the files; returns their total bytes."""
    directory.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for index, start in enumerate(range(0, rows, rows_per_file)):
        count = min(rows_per_file, rows - start)
        columns = {
            f"f{feature:02d}": pa.array(
                (rng.normal(feature, 1 + feature / 10, count) * 100).round() / 100, pa.float32()
            )
            for feature in range(FEATURES)
        }
        columns["target"] = pa.DictionaryArray.from_arrays(
            pa.array(rng.integers(0, 2, count), pa.int32()), pa.array(["no", "yes"])
        )
        pq.write_table(pa.table(columns), directory / f"part-{index:05d}.parquet", compression="zstd")
    return sum(path.stat().st_size for path in directory.iterdir())


def child(mode: str, volume: str, store_root: str) -> None:
    """What one measured child process does; prints its result as JSON."""
    from ballast.api.dataset import DatasetSpec
    from ballast.data.partitions import partitioned_source
    from ballast.data.snapshot import ingest_table
    from ballast.data.sources import SourceSettings
    from ballast.data.stream_ingest import ingest_batches
    from ballast.data.tables import exact_pandas_type
    from ballast.store import ArtifactStore

    spec = DatasetSpec.model_validate(spec_document())
    source = partitioned_source(spec, SourceSettings(pvc_mount_root=volume))
    store = ArtifactStore(f"file://{store_root}")
    started = time.perf_counter()
    if mode == "raw":
        rows = 0
        for part in source.parts:
            with source.open_part(part) as handle:
                rows += sum(batch.num_rows for batch in pq.ParquetFile(handle).iter_batches(batch_size=65_536))
        result = {"rows": rows}
    elif mode == "stream":
        record = ingest_batches(
            store, "bench", spec, source.record_batches(), source.description, "2026-01-01T00:00:00Z"
        )
        result = {"rows": record.rows, "valid": record.valid, "sha256": record.sha256}
    elif mode == "stages":
        result = stage_seconds(spec, source.record_batches(), store_root)
    else:
        frame = pq.read_table(os.path.join(volume, "data")).to_pandas(types_mapper=exact_pandas_type)
        record = ingest_table(store, "bench", spec, frame, source.description, "2026-01-01T00:00:00Z")
        result = {"rows": record.rows, "valid": record.valid, "sha256": record.sha256}
    result["seconds"] = time.perf_counter() - started
    print(json.dumps(result))


STAGES = ("read", "coerce", "validate", "sha256", "profile", "parts")


def stage_seconds(spec, batches, scratch: str) -> dict:
    """The stages of ballast.data.stream_ingest.assess_stream, in turn on this thread: CPU seconds of each."""
    from ballast.data.assess import schema_column_names
    from ballast.data.canonical_stream import StreamingCanonicalDigest
    from ballast.data.profile_stream import StreamingProfile
    from ballast.data.snapshot_parts import PartWriter
    from ballast.data.stream_ingest import coerced
    from ballast.data.validate import ValidationFindings

    seconds = dict.fromkeys(STAGES, 0.0)

    def timed(stage: str, call, *args):
        before = time.process_time()
        value = call(*args)
        seconds[stage] += time.process_time() - before
        return value

    os.makedirs(scratch, exist_ok=True)
    digest, profile = StreamingCanonicalDigest(schema_column_names(spec.schema_)), StreamingProfile(spec.schema_)
    writer = PartWriter(scratch)
    rows, batches = 0, iter(batches)
    while (raw := timed("read", next, batches, None)) is not None:
        table = timed("coerce", coerced, raw, spec)
        timed("validate", ValidationFindings.of, table, spec, rows)
        timed("sha256", digest.update, table)
        timed("profile", profile.update, table)
        timed("parts", writer.write, table)
        timed("parts", writer.flush)  # the write thread's work, waited for: no overlap
        rows += table.rows
    timed("parts", writer.close)
    timed("profile", profile.profile)
    return {"rows": rows, "stages": seconds}


def measured(mode: str, volume: Path, store_root: Path) -> dict:
    """Runs `mode` in a child process: its result, and its peak RSS in MiB from wait4."""
    command = [sys.executable, __file__, "--child", mode, str(volume), str(store_root)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": _python_path()})
    assert process.stdout is not None
    output = process.stdout.read()
    _pid, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise RuntimeError(f"{mode} failed with exit status {process.returncode}")
    shutil.rmtree(store_root, ignore_errors=True)
    return json.loads(output.decode().strip().splitlines()[-1]) | {"peak_rss_mib": usage.ru_maxrss / 1024}


def fastest(mode: str, volume: Path, store_root: Path, repeats: int) -> dict:
    """The fastest of `repeats` runs of `mode` (a run of a tenth of a second is mostly noise),
    with the highest peak RSS among them."""
    runs = [measured(mode, volume, store_root) for _ in range(repeats)]
    return min(runs, key=lambda run: run["seconds"]) | {"peak_rss_mib": max(run["peak_rss_mib"] for run in runs)}


def _python_path() -> str:
    here = str(Path(__file__).resolve().parent)
    return os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")]))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000, 50_000_000])
    parser.add_argument("--rows-per-file", type=int, default=1_000_000)
    parser.add_argument("--in-memory-max-rows", type=int, default=10_000_000)
    parser.add_argument("--workdir", default=tempfile.gettempdir(), help="where the data is generated (needs space)")
    parser.add_argument("--stages", action="store_true", help="also time the streaming stages one by one")
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs of the raw read and of the stream per size; the fastest counts"
    )
    parser.add_argument("--child", nargs=3, metavar=("MODE", "VOLUME", "STORE"), help=argparse.SUPPRESS)
    figures.add_update_option(parser, FIGURES)
    return parser


def run(args: argparse.Namespace) -> int:
    print(
        f"partitioned ingest: {FEATURES} float32 features + category target, {args.rows_per_file} rows per file, "
        f"Python {platform.python_version()}, pyarrow {pa.__version__}, {os.cpu_count()} CPUs"
    )
    print(f"{'rows':>11} {'data MiB':>9} {'path':<10} {'seconds':>8} {'rows/s':>11} {'peak RSS MiB':>13}")
    failures: list[str] = []
    streamed: list[dict] = []
    for rows in args.sizes:
        with tempfile.TemporaryDirectory(prefix="ballast-bench-", dir=args.workdir) as work:
            volume = Path(work) / "volume"
            size = generate(volume / "data", rows, args.rows_per_file)
            modes = ["raw", "stream"] + (["memory"] if rows <= args.in_memory_max_rows else [])
            results = {
                mode: fastest(mode, volume, Path(work) / f"store-{mode}", args.repeats if mode != "memory" else 1)
                for mode in modes
            }
            stages = measured("stages", volume, Path(work) / "store-stages") if args.stages else None
            for mode, result in results.items():
                assert result["rows"] == rows, result
                print(
                    f"{rows:>11} {size / 2**20:>9.0f} {mode:<10} {result['seconds']:>8.1f} "
                    f"{rows / result['seconds']:>11,.0f} {result['peak_rss_mib']:>13.0f}",
                    flush=True,
                )
            if "memory" in results:
                differs = results["memory"]["sha256"] != results["stream"]["sha256"]
                print(
                    f"{'':>11} (in-memory path's v1 sha256 differs from the streamed v2 one, as documented: {differs})"
                )
            if stages is not None:
                assert stages["rows"] == rows, stages
                spent = stages["stages"]
                print(
                    f"{'':>11} stages in turn on one thread, CPU s: "
                    + ", ".join(f"{stage} {spent[stage]:.2f}" for stage in STAGES)
                    + f" (sum {sum(spent.values()):.2f})"
                )
            slowdown = results["stream"]["seconds"] / results["raw"]["seconds"]
            streamed.append(results["stream"])
            if results["stream"]["peak_rss_mib"] > RSS_BUDGET_MIB:
                failures.append(f"{rows} rows: streaming peak RSS above {RSS_BUDGET_MIB} MiB")
            if slowdown > THROUGHPUT_BUDGET:
                failures.append(f"{rows} rows: streaming {slowdown:.1f}x slower than the raw read")
    peaks = [result["peak_rss_mib"] for result in streamed]
    print(
        f"streaming peak RSS from {min(peaks):.0f} to {max(peaks):.0f} MiB "
        f"over {min(args.sizes)}-{max(args.sizes)} rows"
    )
    print("budgets: " + ("; ".join(failures) if failures else "met (peak RSS <= 1 GiB, within 3x of the raw read)"))
    return 1 if failures else 0


def main() -> int:
    parser = build_parser()
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return 0
    return figures.run_benchmark(FIGURES, parser, run)


if __name__ == "__main__":
    sys.exit(main())
