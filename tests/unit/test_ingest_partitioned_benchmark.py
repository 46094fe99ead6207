"""benchmarks/ingest_partitioned.py at a tiny size, and the streaming ingest's memory staying flat."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.scripts import load_script

ROOT = Path(__file__).resolve().parents[2]
benchmark = load_script(ROOT / "benchmarks" / "ingest_partitioned.py")


def test_the_benchmark_runs_every_path_and_reports_its_budgets(tmp_path: Path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "ingest_partitioned.py"), "--sizes", "20000"]
        + ["--rows-per-file", "6000", "--repeats", "2", "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    # At this size the raw read is far faster than any ingest, so the budget may be missed (exit 1).
    assert result.returncode in (0, 1), result.stderr
    lines = result.stdout.splitlines()
    for path in ("raw", "stream", "memory"):
        assert any(line.split()[:3] == ["20000", line.split()[1], path] for line in lines if line.strip()), path
    assert lines[-1].startswith("budgets: ")
    assert not list(tmp_path.iterdir())  # the generated data is removed


def test_streaming_ingest_peak_memory_does_not_grow_with_rows(tmp_path: Path):
    peaks = []
    for rows in (300_000, 1_200_000):
        volume = tmp_path / f"volume-{rows}"
        benchmark.generate(volume / "data", rows, 300_000)
        result = benchmark.measured("stream", volume, tmp_path / f"store-{rows}")
        assert result["rows"] == rows and result["valid"]
        peaks.append(result["peak_rss_mib"])
    # 4x the rows (about 150 MiB more typed data) must not show in the peak: one batch is held.
    assert peaks[1] - peaks[0] < 64, peaks


def test_the_benchmark_times_each_streaming_stage_when_asked(tmp_path: Path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "ingest_partitioned.py"), "--sizes", "20000"]
        + ["--rows-per-file", "6000", "--in-memory-max-rows", "0", "--stages", "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode in (0, 1), result.stderr
    [line] = [line for line in result.stdout.splitlines() if "stages in turn" in line]
    for stage in benchmark.STAGES:
        assert f" {stage} " in line, (stage, line)
    assert not list(tmp_path.iterdir())
