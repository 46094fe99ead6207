"""Ingest of a partitioned source in one streaming pass, in bounded memory.

Each raw batch is coerced to the schema (ballast.data.coerce, as for one file; a record batch
without a pandas frame, by ballast.data.coerce_arrow), then feeds, in
the same pass: the v2 canonical digest (ballast.data.canonical_stream), the validation
findings (ballast.data.validate, which add up across batches), the profile's sketches
(ballast.data.profile_stream) and the part files of the snapshot (ballast.data.snapshot_parts).
Memory holds one batch plus the sketches, whatever the number of rows; local scratch holds
the compressed snapshot until it is copied into the store.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pyarrow as pa

from ballast.api.dataset import DatasetSpec
from ballast.data.assess import schema_column_names
from ballast.data.canonical_stream import CANONICAL_FORM_V2, StreamingCanonicalDigest
from ballast.data.coerce import CoercedTable, coerce_table
from ballast.data.coerce_arrow import coerce_batch
from ballast.data.overlap import BackgroundLane, read_ahead
from ballast.data.profile_stream import StreamingProfile
from ballast.data.snapshot import (
    SnapshotRecord,
    VersionVerdict,
    commit_metadata,
    existing_record,
    version_metadata,
    version_metadata_key,
)
from ballast.data.snapshot_parts import DEFAULT_MAX_PART_BYTES, PART_ROWS, PART_SHA256, PartWriter, upload_parts
from ballast.data.validate import ValidationFindings
from ballast.store import PROFILE_FILE, ArtifactStore, dataset_version_key
from ballast.store.layout import PARTS_DIRECTORY


@dataclass
class StreamedAssessment:
    """Everything an ingest learns from the batches, accumulated in row order."""

    spec: DatasetSpec
    digest: StreamingCanonicalDigest
    profile: StreamingProfile
    findings: ValidationFindings | None = None
    rows: int = 0
    parts: list[str] = field(default_factory=list)
    part_rows: list[int] = field(default_factory=list)
    part_sha256: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, spec: DatasetSpec) -> StreamedAssessment:
        return cls(spec, StreamingCanonicalDigest(schema_column_names(spec.schema_)), StreamingProfile(spec.schema_))

    def verdict(self) -> VersionVerdict:
        findings = self.findings or ValidationFindings.of(coerce_table(pd.DataFrame(), self.spec.schema_), self.spec)
        return VersionVerdict(
            self.digest.hexdigest(), CANONICAL_FORM_V2, self.rows, tuple(findings.violations(self.spec))
        )


RawBatch = pd.DataFrame | pa.RecordBatch
"""A slice of the source as read: a frame, or a record batch (PartitionedSource.record_batches)."""


def coerced(raw: RawBatch, spec: DatasetSpec) -> CoercedTable:
    return coerce_batch(raw, spec.schema_) if isinstance(raw, pa.RecordBatch) else coerce_table(raw, spec.schema_)


def assess_stream(
    batches: Iterable[RawBatch], spec: DatasetSpec, scratch: str, max_part_bytes: int = DEFAULT_MAX_PART_BYTES
) -> StreamedAssessment:
    """One pass over the raw batches; the typed table goes to part files in `scratch`.

    Four threads share the work, each at most one batch ahead or behind (ballast.data.overlap):
    one reads and coerces the next batch, this one validates and profiles the current one and
    lays out its canonical bytes, one hashes them, and one writes the previous batch's part.
    """
    assessed = StreamedAssessment.start(spec)
    hashing = BackgroundLane("ballast-sha256")
    assessed.digest = StreamingCanonicalDigest(schema_column_names(spec.schema_), hashing)
    writer = PartWriter(scratch, max_part_bytes)
    try:
        for table in read_ahead((coerced(raw, spec) for raw in batches), "ballast-read"):
            found = ValidationFindings.of(table, spec, first_row=assessed.rows)
            assessed.findings = found if assessed.findings is None else assessed.findings.merge(found)
            assessed.digest.update(table)
            assessed.profile.update(table)
            writer.write(table)
            assessed.rows += table.rows
    finally:
        # Also when a source fails mid-stream: the threads end before the scratch is removed.
        try:
            writer.close()
        finally:
            hashing.close()
    assessed.parts, assessed.part_rows, assessed.part_sha256 = writer.parts, writer.part_rows, writer.part_sha256
    return assessed


def ingest_batches(
    store: ArtifactStore,
    dataset: str,
    spec: DatasetSpec,
    batches: Iterable[RawBatch],
    source: dict[str, Any],
    created_at: str,
    *,
    max_part_bytes: int = DEFAULT_MAX_PART_BYTES,
) -> SnapshotRecord:
    """Assess the batches and record the version: the whole ingest of a partitioned source."""
    with tempfile.TemporaryDirectory(prefix="ballast-parts-") as scratch:
        assessed = assess_stream(batches, spec, scratch, max_part_bytes)
        verdict = assessed.verdict()
        metadata_key = version_metadata_key(dataset, spec, verdict.sha256, verdict.valid)
        if (earlier := existing_record(store, metadata_key)) is not None:
            return earlier
        files: dict[str, Any] = {"data": PARTS_DIRECTORY, "parts": assessed.parts, "profile": PROFILE_FILE}
        if verdict.valid:
            prefix = dataset_version_key(dataset, verdict.sha256, PARTS_DIRECTORY)
            files[PART_ROWS] = assessed.part_rows
            files[PART_SHA256] = assessed.part_sha256
            upload_parts(store, scratch, prefix, assessed.parts)
            store.write_json_once(
                dataset_version_key(dataset, verdict.sha256, PROFILE_FILE), assessed.profile.profile()
            )
        return commit_metadata(
            store, metadata_key, version_metadata(dataset, spec, verdict, source, created_at, files=files)
        )
