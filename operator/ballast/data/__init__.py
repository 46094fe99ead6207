"""Dataset contents: reading sources, coercion to the schema, the canonical sha256,
validation, the profile, and snapshots in the artifact store."""

from ballast.data.assess import Assessment, assess, rules_digest
from ballast.data.canonical import CANONICAL_FORM, canonical_sha256
from ballast.data.coerce import CoercedColumn, CoercedTable, coerce_table
from ballast.data.errors import (
    InvalidDatasetVersion,
    SourceError,
    SourceNotFound,
    SourceOutsideVolume,
    SourceTooLarge,
    SourceUnreadable,
)
from ballast.data.profile import profile_table
from ballast.data.snapshot import SnapshotRecord, ingest_table, read_snapshot, write_snapshot
from ballast.data.sources import RawTable, SourceSettings, read_source
from ballast.data.validate import validate_table

__all__ = [
    "Assessment",
    "assess",
    "rules_digest",
    "CANONICAL_FORM",
    "canonical_sha256",
    "CoercedColumn",
    "CoercedTable",
    "coerce_table",
    "InvalidDatasetVersion",
    "SourceError",
    "SourceNotFound",
    "SourceOutsideVolume",
    "SourceTooLarge",
    "SourceUnreadable",
    "profile_table",
    "SnapshotRecord",
    "ingest_table",
    "read_snapshot",
    "write_snapshot",
    "RawTable",
    "SourceSettings",
    "read_source",
    "validate_table",
]
