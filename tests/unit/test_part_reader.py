"""Rows of a partitioned snapshot by their numbers (ballast.data.part_reader), as a worker of a
distributed run reads them: across parts, each part verified against metadata.json alone."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from ballast.data.coerce import coerce_table
from ballast.data.part_reader import PartIndex, PartsNotIndexed, read_rows
from ballast.data.partitions import partitioned_source
from ballast.data.sources import SourceSettings
from ballast.data.stream_ingest import ingest_batches
from ballast.store import ArtifactStore, DigestMismatch
from ballast.training.blockwise.plan import Block, block_plan, part_ranges
from tests.unit.test_data_partitioned import spec_for, table, write_parts


@pytest.fixture
def snapshot(tmp_path: Path):
    frame = table(30_000)
    write_parts(tmp_path / "sales", frame, [7_000, 19_000])
    spec = spec_for()
    source = partitioned_source(spec, SourceSettings(pvc_mount_root=str(tmp_path)))
    store = ArtifactStore(f"file://{tmp_path / 'store'}")
    record = ingest_batches(
        store, "sales", spec, source.batches(2048), source.description, "2026-01-01T00:00:00Z", max_part_bytes=64 << 10
    )
    metadata = store.read_json(record.metadata_uri)
    cache = tmp_path / "cache"
    cache.mkdir()
    return store, record, metadata, spec, coerce_table(frame, spec.schema_).frame(), cache


def rows_of(snapshot, block: Block) -> pd.DataFrame:
    store, record, metadata, spec, _, cache = snapshot
    index = PartIndex.of(metadata)
    ranges = [(r.part, r.start, r.stop) for r in part_ranges(block, index.rows)]
    return read_rows(store, store.key(record.snapshot_uri), index, ranges, spec.schema_, str(cache))


def test_blocks_read_across_parts_are_the_snapshot_rows_by_number(snapshot):
    _, _, metadata, _, expected, _ = snapshot
    index = PartIndex.of(metadata)
    assert len(index.names) >= 3 and sum(index.rows) == 30_000 == metadata["rows"]
    blocks = block_plan(index.rows, block_rows=4_000)
    assert any(len(part_ranges(block, index.rows)) > 1 for block in blocks)  # some span two parts
    read = pd.concat([rows_of(snapshot, block) for block in blocks], ignore_index=True)
    pd.testing.assert_frame_equal(read, expected, check_categorical=False)


def test_a_part_is_fetched_once_per_cache_and_verified(snapshot):
    store, record, metadata, _, expected, cache = snapshot
    index = PartIndex.of(metadata)
    first = rows_of(snapshot, Block(0, 0, 100))
    pd.testing.assert_frame_equal(first, expected.iloc[:100], check_categorical=False)
    assert sorted(p.name for p in cache.iterdir()) == [f"{index.sha256[0]}.parquet"]

    # the cached, verified copy serves the next block; a changed part in the store is refused
    # wherever it has not been fetched yet
    parts_dir = Path(store.root.path) / store.key(record.snapshot_uri)
    for name in index.names:
        path = parts_dir / name
        path.chmod(0o644)
        path.write_bytes(path.read_bytes()[:-1] + b"\0")
    pd.testing.assert_frame_equal(
        rows_of(snapshot, Block(1, 100, 200)), expected.iloc[100:200].reset_index(drop=True), check_categorical=False
    )
    with pytest.raises(DigestMismatch):
        rows_of(snapshot, Block(2, 29_000, 30_000))
    assert not [p for p in cache.iterdir() if p.name.startswith(".fetching-")]


def test_a_version_without_its_parts_indexed_asks_for_a_new_ingest(snapshot):
    metadata = dict(snapshot[2])
    metadata["files"] = {k: v for k, v in metadata["files"].items() if k not in ("partRows", "partSha256")}
    with pytest.raises(PartsNotIndexed, match="ingest it again"):
        PartIndex.of(metadata)
