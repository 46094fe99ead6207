"""Dataset versions in the artifact store: writing a snapshot once, and reading it back verified.

A valid version is three objects under `datasets/<name>/<sha256>/`:

    data.parquet    the coerced table (schema columns in schema order, typed)
    profile.json    see ballast.data.profile
    metadata.json   {"kind": "DatasetVersion", "valid": true, "sha256", "rows", "columns", ...}

metadata.json is written last: it is the commit marker, so a version whose metadata exists
is complete, and a second ingest of the same content finds it and writes nothing.

The sha256 of profile.json (it sets the drift bins) and of metadata.json travel with the
version into what the operator records (the Dataset's status, the TrainingRun, the
ModelVersion); readers given one (`read_profile`, `read_snapshot(metadata_sha256=...)`) refuse
bytes that are not those with DigestMismatch, so a rewritten file is caught, not trusted.

An invalid version has no data.parquet (a trainer cannot load what does not exist), only
`metadata-invalid-<rules digest>.json` with valid: false and every violation. Its name carries
the digest of the rules it was judged under (see ballast.data.assess.rules_digest), so after
a person fixes the rules the same content can still become a valid version, write-once intact.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import ballast
from ballast.api.dataset import DatasetSchema, DatasetSpec
from ballast.data.assess import Assessment, assess, rules_digest, schema_column_names
from ballast.data.canonical import CANONICAL_FORM, canonical_sha256
from ballast.data.canonical_stream import CANONICAL_FORM_V2
from ballast.data.coerce import coerce_table
from ballast.data.errors import InvalidDatasetVersion, SourceUnreadable
from ballast.data.profile import profile_table
from ballast.data.snapshot_parts import read_partitioned_frame
from ballast.data.tables import read_parquet_raw
from ballast.store import (
    DATA_FILE,
    METADATA_FILE,
    PROFILE_FILE,
    ArtifactConflict,
    ArtifactNotFound,
    ArtifactStore,
    DigestMismatch,
    dataset_version_key,
)
from ballast.store.artifact_store import reading
from ballast.store.limits import MAX_DATASET_JSON_BYTES

METADATA_KIND = "DatasetVersion"
PARQUET_COMPRESSION = "zstd"


@dataclass(frozen=True)
class SnapshotRecord:
    """What an ingest produced, in the words the Dataset's status uses."""

    dataset: str
    sha256: str
    rows: int
    valid: bool
    violations: tuple[str, ...]
    created_at: str
    metadata_uri: str
    snapshot_uri: str | None
    profile_uri: str | None
    new: bool
    """False when the store already held this version (unchanged content: no new version)."""
    profile_sha256: str | None = None
    metadata_sha256: str | None = None


def invalid_metadata_file(spec: DatasetSpec) -> str:
    return f"metadata-invalid-{rules_digest(spec)[:16]}.json"


def build_metadata(
    dataset: str, spec: DatasetSpec, assessment: Assessment, source: dict[str, Any], created_at: str
) -> dict[str, Any]:
    """The metadata.json document of a single-file version (pure)."""
    return version_metadata(
        dataset,
        spec,
        VersionVerdict(assessment.sha256, CANONICAL_FORM, assessment.table.rows, assessment.violations),
        source,
        created_at,
        files={"data": DATA_FILE, "profile": PROFILE_FILE},
    )


@dataclass(frozen=True)
class VersionVerdict:
    """What an ingest decided about some content, however it was read."""

    sha256: str
    canonical_form: str
    rows: int
    violations: tuple[str, ...]

    @property
    def valid(self) -> bool:
        return not self.violations


def version_metadata(
    dataset: str,
    spec: DatasetSpec,
    verdict: VersionVerdict,
    source: dict[str, Any],
    created_at: str,
    files: dict[str, Any],
) -> dict[str, Any]:
    """The metadata.json document (pure); `files` names the data and profile of a valid version."""
    document: dict[str, Any] = {
        "kind": METADATA_KIND,
        "dataset": dataset,
        "sha256": verdict.sha256,
        "canonicalForm": verdict.canonical_form,
        "rows": verdict.rows,
        "columns": [{"name": column.name, "type": column.type} for column in spec.schema_.columns],
        "schema": spec.schema_.to_wire(),
        "rulesDigest": rules_digest(spec),
        "source": source,
        "format": spec.format,
        "createdAt": created_at,
        "valid": verdict.valid,
        "violations": list(verdict.violations),
        "ballastVersion": ballast.__version__,
    }
    if verdict.valid:
        document["files"] = files
    return document


def record_from_metadata(
    store: ArtifactStore, metadata_uri: str, metadata: dict[str, Any], *, new: bool
) -> SnapshotRecord:
    sha256, dataset, valid = metadata["sha256"], metadata["dataset"], bool(metadata["valid"])
    data = (metadata.get("files") or {}).get("data", DATA_FILE)
    return SnapshotRecord(
        dataset=dataset,
        sha256=sha256,
        rows=int(metadata["rows"]),
        valid=valid,
        violations=tuple(metadata.get("violations") or ()),
        created_at=metadata["createdAt"],
        metadata_uri=metadata_uri,
        snapshot_uri=store.uri_of(dataset_version_key(dataset, sha256, data)) if valid else None,
        profile_uri=store.uri_of(dataset_version_key(dataset, sha256, PROFILE_FILE)) if valid else None,
        new=new,
        profile_sha256=store.sha256_of(dataset_version_key(dataset, sha256, PROFILE_FILE)) if valid else None,
        metadata_sha256=store.sha256_of(metadata_uri),
    )


def version_metadata_key(dataset: str, spec: DatasetSpec, sha256: str, valid: bool) -> str:
    """metadata.json for a valid version; one file per rules digest for an invalid one."""
    return dataset_version_key(dataset, sha256, METADATA_FILE if valid else invalid_metadata_file(spec))


def existing_record(store: ArtifactStore, metadata_key: str) -> SnapshotRecord | None:
    """The version already recorded under this key, if any: unchanged content writes nothing."""
    if not store.exists(metadata_key):
        return None
    return record_from_metadata(store, store.uri_of(metadata_key), store.read_json(metadata_key), new=False)


def commit_metadata(store: ArtifactStore, metadata_key: str, metadata: dict[str, Any]) -> SnapshotRecord:
    """Writes metadata.json last (the commit marker) and returns the version's record."""
    try:
        uri = store.write_json_once(metadata_key, metadata)
    except ArtifactConflict:
        # Another ingest of the same content won the race (its createdAt differs): theirs stands.
        return record_from_metadata(store, store.uri_of(metadata_key), store.read_json(metadata_key), new=False)
    return record_from_metadata(store, uri, metadata, new=True)


def write_snapshot(
    store: ArtifactStore,
    dataset: str,
    spec: DatasetSpec,
    assessment: Assessment,
    source: dict[str, Any],
    created_at: str,
) -> SnapshotRecord:
    """Records the version once; returns what is in the store (the earlier record if there is one)."""
    metadata_key = version_metadata_key(dataset, spec, assessment.sha256, assessment.valid)
    if (earlier := existing_record(store, metadata_key)) is not None:
        return earlier
    if assessment.valid:
        _write_table_once(store, dataset, spec, assessment)
        store.write_json_once(
            dataset_version_key(dataset, assessment.sha256, PROFILE_FILE), profile_table(assessment.table, spec.schema_)
        )
    return commit_metadata(store, metadata_key, build_metadata(dataset, spec, assessment, source, created_at))


def _write_table_once(store: ArtifactStore, dataset: str, spec: DatasetSpec, assessment: Assessment) -> None:
    key = dataset_version_key(dataset, assessment.sha256, DATA_FILE)
    with tempfile.TemporaryFile(prefix="ballast-snapshot-") as spool:
        table = pa.Table.from_pandas(assessment.table.frame(), preserve_index=False)
        pq.write_table(table, spool, compression=PARQUET_COMPRESSION)
        spool.seek(0)
        try:
            store.write_stream_once(key, spool)
        except ArtifactConflict:
            # An earlier ingest died after writing the table but before metadata.json, and
            # a different pyarrow wrote other bytes for the same content. The table is
            # identified by its canonical sha256, not its bytes: keep it if it holds this content.
            _verified_frame(store, key, assessment.sha256, spec.schema_)


def read_pinned_json(
    store: ArtifactStore, key_or_uri: str, expected_sha256: str | None, max_bytes: int | None = None
) -> Any:
    """A JSON document of the store, refused with DigestMismatch unless its bytes have the
    recorded sha256 (when one was recorded), and with ArtifactTooLarge beyond `max_bytes`. The
    bytes hashed are the bytes parsed."""
    data = store.read_bytes(key_or_uri, max_bytes or MAX_DATASET_JSON_BYTES)
    if expected_sha256 is not None:
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected_sha256.lower():
            raise DigestMismatch(store.uri_of(key_or_uri), expected_sha256, actual)
    return json.loads(data)


def read_profile(store: ArtifactStore, dataset: str, sha256: str, expected_sha256: str | None) -> Any:
    """A version's profile.json (what sets a model's drift bins), verified against the sha256
    recorded for it: a profile rewritten after it was recorded is refused, not used."""
    return read_pinned_json(store, dataset_version_key(dataset, sha256, PROFILE_FILE), expected_sha256)


def pinned_metadata(store: ArtifactStore, uri: str, expected_sha256: str, metadata_sha256: str | None) -> dict:
    """The metadata.json beside the snapshot at `uri`, checked: the bytes pinned (when recorded),
    a valid version, of this sha256."""
    metadata_key = store.key(uri).rsplit("/", 1)[0] + "/" + METADATA_FILE
    try:
        metadata = read_pinned_json(store, metadata_key, metadata_sha256)
    except ArtifactNotFound:
        raise ArtifactNotFound(
            f"no valid dataset version at {store.uri_of(uri)} "
            "(no metadata.json; a version found invalid has no snapshot)"
        ) from None
    if not metadata.get("valid"):
        raise InvalidDatasetVersion(store.uri_of(uri), list(metadata.get("violations") or []))
    if metadata.get("sha256") != expected_sha256:
        raise DigestMismatch(store.uri_of(metadata_key), expected_sha256, str(metadata.get("sha256")))
    return metadata


def read_snapshot(
    store: ArtifactStore,
    uri: str,
    expected_sha256: str,
    schema: DatasetSchema | None = None,
    *,
    metadata_sha256: str | None = None,
) -> pd.DataFrame:
    """The snapshot's table, typed, after checking that it is a valid version with this sha256.

    `uri` is the snapshotUri (…/data.parquet, or …/data for a partitioned snapshot, see
    ballast.data.snapshot_parts) a Dataset's status records. The canonical
    sha256 is recomputed from the Parquet content (not its bytes) and compared with
    `expected_sha256`. Raises DigestMismatch when they differ, InvalidDatasetVersion when
    the version was recorded invalid, ArtifactNotFound when there is no snapshot (an invalid
    version has none). `schema` defaults to the one recorded at ingest; pass the Dataset's
    schema to also insist it has not changed since (a changed type changes the sha256).
    `metadata_sha256`, when recorded, pins metadata.json's bytes too.
    """
    key = store.key(uri)
    metadata = pinned_metadata(store, uri, expected_sha256, metadata_sha256)
    if schema is None:
        schema = DatasetSchema.model_validate(metadata["schema"])
    if metadata.get("canonicalForm") == CANONICAL_FORM_V2:
        return read_partitioned_frame(store, key, metadata, expected_sha256, schema)
    return _verified_frame(store, key, expected_sha256, schema)


def _verified_frame(store: ArtifactStore, key: str, expected_sha256: str, schema: DatasetSchema) -> pd.DataFrame:
    # Copied to a local file first, so a failing store (StoreUnavailable) is told apart from
    # bytes that are no longer a Parquet file (altered: DigestMismatch).
    with tempfile.TemporaryFile(prefix="ballast-snapshot-") as local:
        with store.open(key) as remote, reading(store.uri_of(key)):
            shutil.copyfileobj(remote, local, 1 << 20)
        local.seek(0)
        try:
            raw = read_parquet_raw(local)
        except SourceUnreadable as error:
            raise DigestMismatch(store.uri_of(key), expected_sha256, f"none ({error})") from None
    table = coerce_table(raw, schema)
    actual = canonical_sha256(table, schema_column_names(schema))
    if actual != expected_sha256:
        raise DigestMismatch(store.uri_of(key), expected_sha256, actual)
    return table.frame()


def ingest_table(
    store: ArtifactStore, dataset: str, spec: DatasetSpec, raw: pd.DataFrame, source: dict[str, Any], created_at: str
) -> SnapshotRecord:
    """Assess a raw table and record the version: the whole ingest once the source is read."""
    return write_snapshot(store, dataset, spec, assess(raw, spec), source, created_at)
