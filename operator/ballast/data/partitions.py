"""A partitioned source: every file of the Dataset's format under a folder or prefix, read in batches.

- pvc: a directory relative to the claim's mount (checked as a file path is, see
  ballast.data.sources.resolve_pvc_path); every `*.csv` or `*.parquet` below it, recursively.
- objectStore: a prefix (s3://bucket/sales/); every object below it with that extension.

The files are read in the order of their paths (byte order of the relative path), each from
its first row: that order is the table's row order, so renaming files to reorder them changes
the content's sha256, while moving rows between consecutive files does not. Every file must
have the columns of the first one, in the same order; a file that differs is refused
(SourceUnreadable naming it), since silently filling or dropping columns would hide data.
Nothing is read whole: Parquet by record batch, CSV by block, so memory stays at one batch.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ballast.api.dataset import DatasetSpec, describe_source
from ballast.data.errors import SourceError, SourceNotFound, SourceUnreadable
from ballast.data.sources import OBJECT_STORE_SCHEMES, SourceSettings, resolve_pvc_path
from ballast.data.tables import TableFormat, exact_pandas_type, first_line
from ballast.net.http import redact_url
from ballast.store.credentials import SOURCE_ENV_PREFIX, has_any_s3_setting, s3_options_from_env
from ballast.store.remote import filesystem_for

BATCH_ROWS = 65_536
"""Rows per batch: large enough that per-batch overheads vanish, small enough that a batch of
256 columns of text stays far below the ingest pod's memory."""
CSV_BLOCK_BYTES = 16 << 20


@dataclass(frozen=True)
class PartitionedSource:
    parts: tuple[str, ...]
    """The files, in the order their rows are read; names as shown in messages."""
    open_part: Callable[[str], AbstractContextManager[BinaryIO]]
    format: TableFormat
    description: dict[str, Any]

    def batches(self, batch_rows: int = BATCH_ROWS) -> Iterator[pd.DataFrame]:
        """Raw frames (as ballast.data.tables reads one file), checked to share the first file's columns."""
        for batch in self.record_batches(batch_rows):
            yield batch.to_pandas(types_mapper=exact_pandas_type)

    def record_batches(self, batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        """The record batches `batches` converts to frames: what a streaming ingest reads
        (ballast.data.coerce_arrow coerces them without the frame)."""
        columns: list[str] | None = None
        for part in self.parts:
            with self.open_part(part) as handle:
                for batch in _read_batches(handle, self.format, part, batch_rows):
                    if columns is None:
                        columns = batch.schema.names
                    elif batch.schema.names != columns:
                        raise SourceUnreadable(
                            f"{part} has the columns {batch.schema.names}, not those of {self.parts[0]}: {columns}"
                        )
                    yield batch


def is_partitioned(spec: DatasetSpec) -> bool:
    source = spec.source
    return bool((source.pvc and source.pvc.partitioned) or (source.object_store and source.object_store.partitioned))


def partitioned_source(spec: DatasetSpec, settings: SourceSettings) -> PartitionedSource:
    source = spec.source
    extension = "." + spec.format
    if source.pvc is not None:
        root = resolve_pvc_path(settings.pvc_mount_root, source.pvc.path, kind="directory")
        parts = _local_parts(root, extension)
        shown = source.pvc.path.rstrip("/")

        def open_local(part: str) -> AbstractContextManager[BinaryIO]:
            return open(os.path.join(root, part), "rb")

        return PartitionedSource(_found(parts, shown, extension), open_local, spec.format, describe_source(source))
    if source.object_store is None:
        raise ValueError("only pvc and objectStore sources can be partitioned")
    uri = source.object_store.uri
    shown = redact_url(uri)
    parts_of_uri = urlsplit(uri)
    scheme = parts_of_uri.scheme.lower()
    if scheme not in OBJECT_STORE_SCHEMES:
        raise SourceError(f"objectStore URI {shown} has the scheme {scheme!r}; only object stores are read")
    prefix = SOURCE_ENV_PREFIX if has_any_s3_setting(settings.environ, SOURCE_ENV_PREFIX) else ""
    fs = filesystem_for(scheme, s3_options_from_env(settings.environ, prefix))
    base = (parts_of_uri.netloc + parts_of_uri.path).rstrip("/")
    try:
        found = fs.find(base)
    except PermissionError as error:
        raise SourceError(f"access denied to {shown}: {error}") from None
    except OSError as error:
        raise SourceError(f"cannot list {shown}: {error}") from None
    names = [path[len(base) + 1 :] for path in found if path.startswith(base + "/") and path.endswith(extension)]

    def open_object(part: str) -> AbstractContextManager[BinaryIO]:
        return fs.open(f"{base}/{part}", "rb")

    return PartitionedSource(_found(sorted(names), shown, extension), open_object, spec.format, describe_source(source))


def _local_parts(root: str, extension: str) -> list[str]:
    parts = []
    for directory, subdirectories, files in os.walk(root):
        subdirectories.sort()
        for name in files:
            path = os.path.join(directory, name)
            # A symlink could lead out of the volume; parts are plain files only.
            if name.endswith(extension) and not os.path.islink(path):
                parts.append(os.path.relpath(path, root).replace(os.sep, "/"))
    return sorted(parts)


def _found(parts: list[str], shown: str, extension: str) -> tuple[str, ...]:
    if not parts:
        raise SourceNotFound(f"no {extension} files under {shown}")
    return tuple(parts)


def _read_batches(handle: BinaryIO, format: TableFormat, part: str, batch_rows: int) -> Iterator[pa.RecordBatch]:
    try:
        if format == "parquet":
            yield from pq.ParquetFile(handle).iter_batches(batch_size=batch_rows)
        else:
            yield from _csv_batches(handle)
    except (pa.ArrowInvalid, pa.ArrowIOError, UnicodeDecodeError) as error:
        raise SourceUnreadable(f"{part} is not a readable {format} file: {first_line(error)}") from None


def _csv_batches(handle: BinaryIO) -> Iterator[pa.RecordBatch]:
    # Every field as text, "" kept as "" (not null): as ballast.data.tables.read_csv_raw reads a
    # CSV, so coercion sees the same raw values whichever path read the file.
    names = next(csv.reader([handle.readline().decode("utf-8-sig")]), [])
    handle.seek(0)
    reader = pacsv.open_csv(
        handle,
        read_options=pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.large_string() for name in names},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    yield from reader
