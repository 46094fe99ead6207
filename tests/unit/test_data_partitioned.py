"""Partitioned sources: one streaming pass gives the digest, the verdict, the profile and the parts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ballast.api.dataset import DatasetSpec
from ballast.data.assess import schema_column_names
from ballast.data.canonical_stream import StreamingCanonicalDigest
from ballast.data.coerce import coerce_table
from ballast.data.errors import SourceNotFound, SourceUnreadable
from ballast.data.partitions import partitioned_source
from ballast.data.profile import profile_table
from ballast.data.profile_stream import StreamingProfile
from ballast.data.snapshot import read_profile, read_snapshot
from ballast.data.sources import SourceSettings
from ballast.data.stream_ingest import ingest_batches
from ballast.data.tables import read_csv_raw
from ballast.data.validate import validate_table
from ballast.lifecycle.stored_version import PinnedVersion, read_stored_version
from ballast.runtime.ingest import IngestOptions, run_ingest
from ballast.store import ArtifactStore

COLUMNS = [
    {"name": "amount", "type": "float", "nullable": True, "minimum": -10.0, "maximum": 10.0},
    {"name": "count", "type": "integer", "minimum": 0},
    {"name": "kind", "type": "category", "allowedValues": ["a", "b", "c"]},
    {"name": "flag", "type": "boolean"},
    {"name": "note", "type": "string", "nullable": True},
]


def spec_for(fmt: str = "parquet", columns: list[dict] | None = None, path: str = "sales") -> DatasetSpec:
    return DatasetSpec.model_validate(
        {
            "source": {"pvc": {"claimName": "data", "path": path, "partitioned": True}},
            "format": fmt,
            "schema": {"columns": columns or COLUMNS, "target": "kind"},
            "validation": {"maxNullFraction": 0.5},
        }
    )


def table(rows: int, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    amount = rng.normal(size=rows)
    amount[rng.random(rows) < 0.05] = np.nan
    return pd.DataFrame(
        {
            "amount": amount,
            "count": rng.integers(0, 1000, rows),
            "kind": rng.choice(["a", "b", "c"], rows),
            "flag": rng.random(rows) < 0.3,
            "note": rng.choice(["x", "yy", ""], rows),
        }
    )


def write_parts(directory: Path, frame: pd.DataFrame, cuts: list[int], fmt: str = "parquet") -> None:
    directory.mkdir(parents=True, exist_ok=True)
    bounds = [0, *cuts, len(frame)]
    for index, (start, stop) in enumerate(zip(bounds, bounds[1:])):
        part = frame.iloc[start:stop]
        path = directory / f"part-{index:03d}.{fmt}"
        if fmt == "parquet":
            pq.write_table(pa.Table.from_pandas(part, preserve_index=False), path)
        else:
            part.to_csv(path, index=False)


def streamed_digest(volume: Path, spec: DatasetSpec, batch_rows: int) -> str:
    source = partitioned_source(spec, SourceSettings(pvc_mount_root=str(volume)))
    digest = StreamingCanonicalDigest(schema_column_names(spec.schema_))
    for raw in source.batches(batch_rows):
        digest.update(coerce_table(raw, spec.schema_))
    return digest.hexdigest()


def test_the_digest_does_not_depend_on_file_boundaries_batch_sizes_or_format(tmp_path: Path):
    frame = table(5000)
    write_parts(tmp_path / "one" / "sales", frame, [])
    write_parts(tmp_path / "many" / "sales", frame, [1, 999, 1000, 4321])
    write_parts(tmp_path / "csv" / "sales", frame, [2500], fmt="csv")
    spec = spec_for()
    digests = {
        streamed_digest(tmp_path / "one", spec, 5000),
        streamed_digest(tmp_path / "one", spec, 7),
        streamed_digest(tmp_path / "many", spec, 333),
        streamed_digest(tmp_path / "many", spec, 65536),
        streamed_digest(tmp_path / "csv", spec_for("csv"), 100),
    }
    assert len(digests) == 1


@pytest.mark.parametrize(
    "change",
    ["one value", "row order", "a column's type", "a column's name", "a row fewer"],
)
def test_the_digest_changes_with_content_and_schema(tmp_path: Path, change: str):
    frame = table(3000)
    write_parts(tmp_path / "base" / "sales", frame, [1000, 2000])
    spec = spec_for()
    changed, changed_spec = frame.copy(), spec
    if change == "one value":
        changed.loc[1500, "count"] += 1
    elif change == "row order":
        changed = pd.concat([frame.iloc[1000:2000], frame.iloc[:1000], frame.iloc[2000:]])
    elif change == "a column's type":
        changed_spec = spec_for(columns=[{**COLUMNS[0]}, {**COLUMNS[1], "type": "float"}, *COLUMNS[2:]])
    elif change == "a column's name":
        changed = changed.rename(columns={"note": "comment"})
        changed_spec = spec_for(columns=[*COLUMNS[:4], {**COLUMNS[4], "name": "comment"}])
    else:
        changed = changed.iloc[:-1]
    write_parts(tmp_path / "changed" / "sales", changed, [1000, 2000])
    assert streamed_digest(tmp_path / "changed", changed_spec, 512) != streamed_digest(tmp_path / "base", spec, 512)


def broken_table(rows: int) -> pd.DataFrame:
    frame = table(rows).astype({"count": object, "amount": object, "flag": object})
    frame.loc[[10, 2500, 4999], "count"] = -5  # below the minimum, the smallest at row 2501
    frame.loc[2500, "count"] = -9
    frame.loc[[7, 3100], "amount"] = 11.5  # above the maximum
    frame.loc[[40, 4100], "kind"] = "z"  # not allowed
    frame.loc[1200, "flag"] = None  # missing in a non-nullable column
    return frame


def test_violations_are_counted_across_files_as_in_one_table(tmp_path: Path):
    frame = broken_table(5000)
    write_parts(tmp_path / "sales", frame, [1000, 2600, 4000], fmt="csv")
    spec = spec_for("csv")
    source = partitioned_source(spec, SourceSettings(pvc_mount_root=str(tmp_path)))
    store = ArtifactStore(f"file://{tmp_path / 'store'}")
    record = ingest_batches(store, "sales", spec, source.batches(700), source.description, "2026-01-01T00:00:00Z")
    whole = coerce_table(read_csv_raw(frame.to_csv(index=False).encode()), spec.schema_)  # the one-file path
    expected = validate_table(whole, spec)
    assert not record.valid and record.snapshot_uri is None
    assert list(record.violations) == expected
    assert "column count: 3 values are below the minimum of 0 (smallest at row 2501)" in expected
    assert "column kind: 2 values are not among the allowed values (first at row 41)" in expected


def test_the_streamed_profile_equals_the_one_shot_profile(tmp_path: Path):
    frame = table(20_000)
    spec = spec_for()
    whole = coerce_table(frame, spec.schema_)
    streamed = StreamingProfile(spec.schema_)
    for start in range(0, len(frame), 3001):
        streamed.update(coerce_table(frame.iloc[start : start + 3001].reset_index(drop=True), spec.schema_))
    expected, actual = profile_table(whole, spec.schema_), streamed.profile()
    for name, column in expected["columns"].items():
        got = actual["columns"][name]
        for key in ("mean", "std"):
            if column.get(key) is not None:
                assert got[key] == pytest.approx(column[key], rel=1e-12)
                got = {**got, key: column[key]}
        assert got == column, name  # bin edges (the sample is the whole column here), counts, frequencies
    assert {**actual, "columns": {}} == {**expected, "columns": {}}


def test_a_sampled_profile_does_not_depend_on_batches_and_stays_close_to_exact_edges():
    spec = spec_for()
    frame = table(50_000)

    def profiled(batch: int) -> dict:
        streamed = StreamingProfile(spec.schema_, sample_size=2000)
        for start in range(0, len(frame), batch):
            streamed.update(coerce_table(frame.iloc[start : start + batch].reset_index(drop=True), spec.schema_))
        return streamed.profile()["columns"]["amount"]

    small_batches, large_batches = profiled(997), profiled(20_000)
    assert small_batches["mean"] == pytest.approx(large_batches["mean"], rel=1e-12)
    assert {**small_batches, "mean": 0, "std": 0} == {**large_batches, "mean": 0, "std": 0}
    exact = profile_table(coerce_table(frame, spec.schema_), spec.schema_)["columns"]["amount"]["binEdges"]
    values = np.sort(frame["amount"].dropna().to_numpy())
    for edge, wanted in zip(small_batches["binEdges"][1:-1], np.linspace(0, 1, 11)[1:-1]):
        rank = np.searchsorted(values, edge) / len(values)
        assert abs(rank - wanted) < 0.04  # about 3.5 standard errors of a 2000-value sample
    assert len(exact) == len(small_batches["binEdges"])


def test_the_snapshot_is_written_in_bounded_parts_and_read_back_verified(tmp_path: Path):
    frame = table(60_000)
    write_parts(tmp_path / "sales", frame, [10_000, 30_000])
    spec = spec_for()
    source = partitioned_source(spec, SourceSettings(pvc_mount_root=str(tmp_path)))
    store = ArtifactStore(f"file://{tmp_path / 'store'}")
    max_part = 256 << 10
    record = ingest_batches(
        store, "sales", spec, source.batches(4096), source.description, "2026-01-01T00:00:00Z", max_part_bytes=max_part
    )
    assert record.valid and record.snapshot_uri and record.snapshot_uri.endswith("/data")
    parts = sorted((Path(store.root.path) / store.key(record.snapshot_uri)).iterdir())
    assert len(parts) >= 3
    # A part is closed after the batch that takes it past the bound: at most one batch over.
    one_batch = max(part.stat().st_size for part in parts) - max_part
    assert all(part.stat().st_size <= max_part + max(one_batch, 0) for part in parts)
    assert one_batch < max_part
    read = read_snapshot(store, record.snapshot_uri, record.sha256)
    expected = coerce_table(frame, spec.schema_).frame()
    pd.testing.assert_frame_equal(read, expected, check_categorical=False)
    assert pd.read_parquet(Path(store.root.path) / store.key(record.snapshot_uri)).shape == frame.shape
    profile = read_profile(store, "sales", record.sha256, record.profile_sha256)
    assert profile["rows"] == 60_000
    again = ingest_batches(store, "sales", spec, source.batches(999), source.description, "2026-02-01T00:00:00Z")
    assert again.sha256 == record.sha256 and not again.new


def test_a_part_with_other_columns_is_refused_by_name(tmp_path: Path):
    write_parts(tmp_path / "sales", table(100), [50])
    pq.write_table(pa.Table.from_pandas(table(10).drop(columns="note")), tmp_path / "sales" / "part-009.parquet")
    source = partitioned_source(spec_for(), SourceSettings(pvc_mount_root=str(tmp_path)))
    with pytest.raises(SourceUnreadable, match="part-009.parquet"):
        list(source.batches())


def test_a_folder_without_files_of_the_format_is_not_found(tmp_path: Path):
    write_parts(tmp_path / "sales", table(10), [], fmt="csv")
    with pytest.raises(SourceNotFound, match=r"no \.parquet files under sales"):
        partitioned_source(spec_for(), SourceSettings(pvc_mount_root=str(tmp_path)))


def test_the_ingest_command_reads_a_partitioned_folder(tmp_path: Path):
    write_parts(tmp_path / "volume" / "sales" / "day=2", table(300, seed=5), [100])
    write_parts(tmp_path / "volume" / "sales" / "day=1", table(200, seed=6), [])
    spec_path = tmp_path / "dataset.json"
    spec_path.write_text(json.dumps({"metadata": {"name": "sales"}, "spec": spec_for().to_wire()}))
    options = IngestOptions(
        dataset_json_path=str(spec_path),
        store_uri=f"file://{tmp_path / 'store'}",
        termination_log=str(tmp_path / "termination"),
        source_root=str(tmp_path / "volume"),
        max_source_bytes=10,  # a limit of single sources: a partitioned one is streamed
        environ={},
    )
    assert run_ingest(options) == 0
    result = json.loads((tmp_path / "termination").read_text())
    assert result["ok"] and result["valid"] and result["rows"] == 500
    metadata = ArtifactStore(f"file://{tmp_path / 'store'}").read_json(result["metadataUri"])
    assert metadata["canonicalForm"] == "ballast-table-v2"
    assert metadata["source"] == {"kind": "pvc", "claimName": "data", "path": "sales", "partitioned": True}


def test_a_partitioned_version_that_left_the_status_is_found_in_the_store_by_its_parts(tmp_path: Path):
    write_parts(tmp_path / "sales", table(3000), [1000])
    spec = spec_for()
    source = partitioned_source(spec, SourceSettings(pvc_mount_root=str(tmp_path)))
    store = ArtifactStore(f"file://{tmp_path / 'store'}")
    record = ingest_batches(store, "sales", spec, source.batches(), source.description, "2026-01-01T00:00:00Z")
    stored = read_stored_version(store, PinnedVersion("sales", record.sha256))
    assert stored.entry is not None and stored.entry["snapshotUri"] == record.snapshot_uri
    (Path(store.root.path) / store.key(record.snapshot_uri) / "part-00000.parquet").unlink()
    assert "missing" in read_stored_version(store, PinnedVersion("sales", record.sha256)).message
