"""A partitioned snapshot: the coerced table as several Parquet files, each of bounded size.

A version ingested from a partitioned source keeps its table under
`datasets/<name>/<sha256>/data/part-00000.parquet, part-00001.parquet, ...`, listed in order in
metadata.json (`files.parts`), and its snapshotUri is the `data` prefix. The parts are written
to local scratch while the stream is read (the sha256 that names their place is known only at
the end), then copied into the store; each is closed once it reaches `max_part_bytes`, so a
reader (a trainer, pandas or pyarrow given the prefix) never needs more than one in memory.
metadata.json also records each part's row count and file sha256 (`files.partRows`,
`files.partSha256`), so that a reader of some rows (a worker of a distributed run) can find
their parts and verify each on its own (ballast.data.part_reader).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ballast.api.dataset import DatasetSchema
from ballast.data.canonical_stream import StreamingCanonicalDigest
from ballast.data.coerce import CoercedTable, coerce_table
from ballast.data.overlap import BackgroundLane
from ballast.data.tables import exact_pandas_type, first_line
from ballast.store import ArtifactStore, DigestMismatch
from ballast.store.artifact_store import reading

PARQUET_COMPRESSION = "snappy"
PART_ROWS = "partRows"
"""metadata.json's files.partRows: each part's row count, in the order of files.parts."""
PART_SHA256 = "partSha256"
"""metadata.json's files.partSha256: each part file's sha256, in the order of files.parts."""
DEFAULT_MAX_PART_BYTES = 128 << 20


def part_name(index: int) -> str:
    return f"part-{index:05d}.parquet"


class PartWriter:
    """Appends coerced slices to part files in `directory`, starting a new part past `max_part_bytes`.

    Converting, encoding and compressing a slice runs on a second thread (pyarrow releases the
    GIL) while the caller goes on with the next one; at most one slice waits to be written.
    """

    def __init__(self, directory: str, max_part_bytes: int = DEFAULT_MAX_PART_BYTES) -> None:
        self.directory, self.max_part_bytes = directory, max_part_bytes
        self.parts: list[str] = []
        self.part_rows: list[int] = []
        self.part_sha256: list[str] = []
        """Each closed part file's sha256, taken on the write thread while the stream goes on."""
        self._writer: pq.ParquetWriter | None = None
        self._schema: pa.Schema | None = None
        self._lane = BackgroundLane("ballast-parts")

    def write(self, table: CoercedTable) -> None:
        self._lane.submit(self._convert_and_append, table)

    def flush(self) -> None:
        """Waits until the slices handed over so far are written."""
        self._lane.wait()

    def close(self) -> None:
        try:
            self._lane.close()
        finally:
            self._close_part()

    def _convert_and_append(self, table: CoercedTable) -> None:
        arrow = table.arrow()
        if self._schema is None:
            self._schema = _stable_schema(arrow.schema)
        self._append(arrow.cast(self._schema))

    def _append(self, arrow: pa.Table) -> None:
        if self._writer is None:
            self.parts.append(part_name(len(self.parts)))
            self.part_rows.append(0)
            self._writer = pq.ParquetWriter(self._path(), self._schema, compression=PARQUET_COMPRESSION)
        self._writer.write_table(arrow)
        self.part_rows[-1] += arrow.num_rows
        if os.path.getsize(self._path()) >= self.max_part_bytes:
            self._close_part()

    def _close_part(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            with open(self._path(), "rb") as written:  # just written: read again from the page cache
                self.part_sha256.append(hashlib.file_digest(written, "sha256").hexdigest())

    def _path(self) -> str:
        return os.path.join(self.directory, self.parts[-1])


def _stable_schema(schema: pa.Schema) -> pa.Schema:
    # A category column's dictionary index width could follow each slice's number of
    # categories; one width for all slices keeps every part (and row group) of one schema.
    fields = [
        pa.field(f.name, pa.dictionary(pa.int32(), f.type.value_type)) if pa.types.is_dictionary(f.type) else f
        for f in schema
    ]
    return pa.schema(fields)


def parts_key(parts_prefix: str, part: str) -> str:
    """`parts_prefix` is the version's `data` key (dataset_version_key(name, sha256, PARTS_DIRECTORY))."""
    return f"{parts_prefix}/{part}"


def upload_parts(store: ArtifactStore, directory: str, parts_prefix: str, parts: list[str]) -> None:
    """Copies the parts into the store (their sha256, which metadata.json records so that a
    reader of one part can verify it alone, are PartWriter.part_sha256)."""
    for part in parts:
        path = os.path.join(directory, part)
        store.write_file_once(parts_key(parts_prefix, part), path)
        os.remove(path)  # scratch holds at most the parts not yet copied


def read_partitioned_frame(
    store: ArtifactStore, parts_prefix: str, metadata: dict[str, Any], expected_sha256: str, schema: DatasetSchema
) -> pd.DataFrame:
    """The parts' table, typed, after checking their content has the version's (v2) sha256."""
    digest = StreamingCanonicalDigest([column.name for column in schema.columns])
    frames = []
    for raw in _part_frames(store, parts_prefix, list(metadata["files"]["parts"]), expected_sha256):
        table = coerce_table(raw, schema)
        digest.update(table)
        frames.append(table.frame())
    actual = digest.hexdigest()
    if actual != expected_sha256:
        raise DigestMismatch(store.uri_of(parts_prefix), expected_sha256, actual)
    if not frames:
        return pd.DataFrame({column.name: pd.Series(dtype=object) for column in schema.columns})
    return pd.concat(frames, ignore_index=True)


def _part_frames(store: ArtifactStore, parts_prefix: str, parts: list[str], expected: str) -> Iterator[pd.DataFrame]:
    for part in parts:
        key = parts_key(parts_prefix, part)
        with tempfile.TemporaryFile(prefix="ballast-snapshot-") as local:
            with store.open(key) as remote, reading(store.uri_of(key)):
                shutil.copyfileobj(remote, local, 1 << 20)
            local.seek(0)
            try:
                batches = list(pq.ParquetFile(local).iter_batches())
            except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as error:
                raise DigestMismatch(store.uri_of(key), expected, f"none (not Parquet: {first_line(error)})") from None
            for batch in batches:
                yield batch.to_pandas(types_mapper=exact_pandas_type)
