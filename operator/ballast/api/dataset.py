"""Dataset: where the data is, what it must look like, and the versions taken of it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from ballast.api.common import (
    ApiModel,
    Duration,
    Fraction,
    ResourceName,
    SecretRef,
    Sha256,
    StatusBase,
    Uri,
)
from ballast.net.http import redact_url  # stdlib only: the API stays importable without the data stack

ColumnType = Literal["integer", "float", "string", "boolean", "category"]
ColumnName = str


class ObjectStoreSource(ApiModel):
    """One object in an object store (s3://, gs://, ...), read by the ingest pod."""

    uri: Uri
    """The object to read, for example s3://bucket/path/data.parquet; with partitioned, the prefix
    whose objects are read, for example s3://bucket/sales/."""
    partitioned: bool = False
    """Read every object of the Dataset's format (*.csv or *.parquet) under uri, in key order,
    as one table, streamed in bounded memory and without the single-source size limit."""
    secret_ref: SecretRef | None = None
    """A Secret holding the credentials (for s3: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL)."""


class PvcSource(ApiModel):
    """A file on a PersistentVolumeClaim, mounted read-only into the ingest pod."""

    claim_name: ResourceName
    """A PersistentVolumeClaim in the Dataset's namespace."""
    path: str = Field(min_length=1, max_length=1024, pattern=r"^[^/].*$")
    """The file's path inside the volume, relative to its root; with partitioned, a directory."""
    partitioned: bool = False
    """Read every file of the Dataset's format (*.csv or *.parquet) below path, recursively and in
    path order, as one table, streamed in bounded memory and without the single-source size limit."""


MAX_COLUMNS = 256
INLINE_MAX_BYTES = 512 * 1024
"""The most the Dataset's spec may take as compact JSON when its source is inline. The object
holds the spec twice (kopf keeps its diff base in status.kopf) and etcd refuses an object over
1.5 MiB, so a larger one could not even have its status written; the Secret that carries the
spec to the ingest pod (build.ingest_input) holds 1 MiB. The API server cannot count bytes
inside free-form rows (CEL sees nothing in them), so the operator refuses a larger spec before
any Job, naming spec.source.inline.rows; the schema bounds the rows and their columns."""


class InlineSource(ApiModel):
    """The rows themselves, in the Dataset's spec."""

    rows: list[Annotated[dict[str, Any], Field(max_length=MAX_COLUMNS)]] = Field(min_length=1, max_length=1000)
    """Rows as objects of column name to value; for tiny demos and tests only (512 KiB of JSON at most)."""


class DatasetSource(ApiModel):
    """Exactly one of url, objectStore, pvc or inline."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "[has(self.url), has(self.objectStore), has(self.pvc), has(self.inline)]"
                    ".filter(x, x).size() == 1",
                    "message": "set exactly one of source.url, source.objectStore, source.pvc, source.inline",
                }
            ]
        }
    )

    url: str | None = Field(default=None, max_length=2048, pattern=r"^https?://.+$")
    """An http or https URL to download."""
    object_store: ObjectStoreSource | None = None
    """An object in an object store, read with the credentials of secretRef."""
    pvc: PvcSource | None = None
    """A file on a PersistentVolumeClaim in the Dataset's namespace."""
    inline: InlineSource | None = None
    """Rows written into the spec; for tiny demos and tests only."""


def describe_source(source: DatasetSource) -> dict[str, Any]:
    """Where a source is, without credentials: what metadata.json records and lineage shows."""
    if source.url is not None:
        return {"kind": "url", "url": redact_url(source.url)}
    if source.object_store is not None:
        described = {"kind": "objectStore", "uri": redact_url(source.object_store.uri)}
        return described | ({"partitioned": True} if source.object_store.partitioned else {})
    if source.pvc is not None:
        described = {"kind": "pvc", "claimName": source.pvc.claim_name, "path": source.pvc.path}
        return described | ({"partitioned": True} if source.pvc.partitioned else {})
    if source.inline is not None:
        return {"kind": "inline", "rows": len(source.inline.rows)}
    raise ValueError("the source sets none of url, objectStore, pvc, inline")


class Column(ApiModel):
    """One column the content must have, with the values it may hold."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.minimum) || !has(self.maximum) || self.minimum <= self.maximum",
                    "message": "minimum must not be greater than maximum",
                },
                {
                    "rule": "!(has(self.minimum) || has(self.maximum)) || self.type in ['integer', 'float']",
                    "message": "minimum and maximum apply only to integer and float columns",
                },
                {
                    "rule": "!has(self.allowedValues) || self.type in ['string', 'category']",
                    "message": "allowedValues applies only to string and category columns",
                },
            ]
        }
    )

    name: ColumnName = Field(min_length=1, max_length=128)
    """The column's header in the source; unique within the schema."""
    type: ColumnType
    """What every value must parse as: integer, float, string, boolean, or category (a string
    from a small set of values, treated as categorical in training and drift)."""
    nullable: bool = False
    """Whether a missing value is allowed at all."""
    minimum: float | None = None
    """The smallest value allowed (integer and float columns); a smaller one makes the version invalid."""
    maximum: float | None = None
    """The largest value allowed (integer and float columns); a larger one makes the version invalid."""
    allowed_values: list[str] | None = Field(default=None, min_length=1, max_length=256)
    """The only values allowed (string and category columns); any other makes the version invalid."""


class DatasetSchema(ApiModel):
    """What the content must look like; a version that does not match is recorded as invalid."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.target) || self.columns.exists(c, c.name == self.target)",
                    "message": "target must name one of the columns",
                },
                {
                    "rule": "!has(self.features) || self.features.all(f, self.columns.exists(c, c.name == f))",
                    "message": "every feature must name one of the columns",
                },
                {
                    "rule": "!has(self.features) || !has(self.target) || !(self.target in self.features)",
                    "message": "the target cannot also be a feature",
                },
            ]
        }
    )

    columns: list[Column] = Field(
        min_length=1,
        max_length=MAX_COLUMNS,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    """Every column the content must have, keyed by name; a column not listed makes the version invalid."""
    target: ColumnName | None = Field(default=None, max_length=128)
    """The column a model learns to predict."""
    features: list[ColumnName] | None = Field(default=None, min_length=1, max_length=256)
    """The columns a model learns from; all but the target when left out."""


class DatasetValidation(ApiModel):
    """Rules on the whole content, beyond each column's own; a version that breaks one is invalid."""

    min_rows: int = Field(default=1, ge=1)
    """Fewer rows than this makes a version invalid."""
    max_null_fraction: Fraction = 1.0
    """The largest share of missing values any one column may have."""


class DatasetSpec(ApiModel):
    """Where the data is and what it must look like; the operator ingests it into versions."""

    source: DatasetSource
    """Where the content is read from: exactly one of url, objectStore, pvc or inline."""
    format: Literal["csv", "parquet"] = "csv"
    """How the source's bytes are parsed: csv or parquet (inline rows are already parsed)."""
    schema_: DatasetSchema = Field(alias="schema")
    """The columns the content must have; an ingest that does not match records an invalid version."""
    validation: DatasetValidation | None = None
    """Rules on the whole content: at least 1 row and no limit on missing values when left out."""
    refresh_interval: Duration | None = None
    """Re-read the source this often; new content becomes a new version, unchanged content does not."""
    version_history_limit: int = Field(default=10, ge=1, le=100)
    """How many versions status keeps."""


class DatasetVersion(ApiModel):
    """One ingest's content, identified by its digest, and where its files are kept."""

    sha256: Sha256
    """The sha256 of the canonical form of the content: the version's identity."""
    rows: int = Field(ge=0)
    """How many rows the content has."""
    created_at: datetime
    """When this version was ingested."""
    snapshot_uri: Uri | None = None
    """The immutable copy of the content in the artifact store that runs train on: data.parquet, or
    for a partitioned source the data prefix of its part files; absent when the version is invalid."""
    profile_uri: Uri | None = None
    """The version's profile.json (column statistics and drift bins); absent when it is invalid."""
    profile_sha256: Sha256 | None = None
    """The sha256 of profile.json (it sets drift bins): a profile with other bytes is refused."""
    metadata_sha256: Sha256 | None = None
    """The sha256 of the version's metadata.json, refused the same way when it changes."""
    valid: bool
    """Whether the content met the schema and validation rules; only a valid version is trained on."""
    violations: list[str] | None = Field(default=None, max_length=64)
    """Every rule the content broke, when it is invalid."""


class IngestRun(ApiModel):
    """The newest ingest Job: one per spec generation, and one per refresh."""

    job_name: str = Field(max_length=63)
    """The ingest Job in the Dataset's namespace."""
    generation: int = Field(ge=0)
    """The metadata.generation of the spec the Job reads."""
    refresh: int = Field(default=0, ge=0)
    """How many refreshes of this generation came before this one."""
    started_at: datetime
    """When the operator created the Job."""
    finished_at: datetime | None = None
    """When the Job ended; absent while it runs."""
    succeeded: bool | None = None
    """Whether the ingest succeeded; absent while the Job runs."""
    reason: str | None = Field(default=None, max_length=128)
    """How it ended, as one CamelCase word (Ingested, or why it failed); absent while the Job runs."""
    message: str | None = Field(default=None, max_length=4096)
    """How it ended, for a person: a summary of the version, or what went wrong."""


class DatasetStatus(StatusBase):
    """The versions ingested so far and the newest ingest, written by the operator from each
    ingest Job's result."""

    latest_version: Sha256 | None = None
    """The newest valid version; an invalid version never becomes the latest."""
    latest_rows: int | None = Field(default=None, ge=0)
    """The row count of latestVersion."""
    versions: list[DatasetVersion] | None = Field(default=None, max_length=100)
    """Newest first, at most spec.versionHistoryLimit entries."""
    ingest: IngestRun | None = None
    """The newest ingest Job and how it ended."""
