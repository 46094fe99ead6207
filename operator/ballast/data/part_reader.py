"""Rows of a partitioned snapshot by their numbers, each part verified on its own.

A distributed run's workers each read some blocks of rows. A part is fetched once per worker
into its scratch directory under its sha256 (from the version's metadata.json, which the run
pinned by its own sha256), verified there, and read by row groups: only the row groups a block
overlaps are decoded.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ballast.api.dataset import DatasetSchema
from ballast.data.coerce import coerce_table
from ballast.data.snapshot_parts import PART_ROWS, PART_SHA256, parts_key
from ballast.data.tables import exact_pandas_type, first_line
from ballast.store import ArtifactStore, DigestMismatch
from ballast.store.artifact_store import reading


class PartsNotIndexed(ValueError):
    """The version was ingested before metadata.json recorded its parts' rows and digests."""


@dataclass(frozen=True)
class PartIndex:
    names: tuple[str, ...]
    rows: tuple[int, ...]
    sha256: tuple[str, ...]

    @classmethod
    def of(cls, metadata: dict[str, Any]) -> PartIndex:
        files = metadata.get("files") or {}
        names, rows, digests = files.get("parts"), files.get(PART_ROWS), files.get(PART_SHA256)
        if not (isinstance(names, list) and isinstance(rows, list) and isinstance(digests, list)):
            raise PartsNotIndexed(
                "the dataset version's metadata.json lists no row counts and digests of its parts "
                f"(files.{PART_ROWS}, files.{PART_SHA256}); ingest it again with this Ballast to train on it by blocks"
            )
        if not len(names) == len(rows) == len(digests):
            raise PartsNotIndexed("files.parts, partRows and partSha256 of metadata.json differ in length")
        return cls(tuple(map(str, names)), tuple(map(int, rows)), tuple(map(str, digests)))


def verified_part(store: ArtifactStore, parts_prefix: str, index: PartIndex, part: int, cache_dir: str) -> str:
    """A local path of the part's file, fetched and verified once per cache directory."""
    expected = index.sha256[part]
    path = os.path.join(cache_dir, f"{expected}.parquet")
    if os.path.exists(path):
        return path
    key = parts_key(parts_prefix, index.names[part])
    digest = hashlib.sha256()
    with tempfile.NamedTemporaryFile(dir=cache_dir, prefix=".fetching-", delete=False) as local:
        try:
            with store.open(key) as remote, reading(store.uri_of(key)):
                while chunk := remote.read(1 << 20):
                    digest.update(chunk)
                    local.write(chunk)
        except BaseException:
            os.remove(local.name)
            raise
    if digest.hexdigest() != expected:
        os.remove(local.name)
        raise DigestMismatch(store.uri_of(key), expected, digest.hexdigest())
    os.replace(local.name, path)  # whole or absent, also for a second reader of the same cache
    return path


def read_rows(
    store: ArtifactStore,
    parts_prefix: str,
    index: PartIndex,
    ranges: Sequence[tuple[int, int, int]],
    schema: DatasetSchema,
    cache_dir: str,
) -> pd.DataFrame:
    """The rows of (part, start, stop) ranges, in order, coerced to the schema."""
    frames = []
    for part, start, stop in ranges:
        path = verified_part(store, parts_prefix, index, part, cache_dir)
        try:
            frames.append(_row_range(pq.ParquetFile(path), start, stop))
        except (pa.ArrowInvalid, OSError) as error:
            # bytes with the recorded digest that do not parse: written so by a broken ingest
            uri = store.uri_of(parts_key(parts_prefix, index.names[part]))
            raise DigestMismatch(uri, index.sha256[part], f"none (not Parquet: {first_line(error)})") from None
    raw = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return coerce_table(raw, schema).frame()


def _row_range(parquet: pq.ParquetFile, start: int, stop: int) -> pd.DataFrame:
    """Rows [start, stop) of the file, decoding only the row groups they lie in."""
    groups, first, offset = [], None, 0
    for group in range(parquet.num_row_groups):
        rows = parquet.metadata.row_group(group).num_rows
        if offset < stop and offset + rows > start:
            groups.append(group)
            first = offset if first is None else first
        offset += rows
    if not groups:
        return parquet.schema_arrow.empty_table().to_pandas(types_mapper=exact_pandas_type)
    table = parquet.read_row_groups(groups).slice(start - first, stop - start)  # type: ignore[operator]
    return table.to_pandas(types_mapper=exact_pandas_type)
