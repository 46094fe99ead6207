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

ColumnType = Literal["integer", "float", "string", "boolean", "category"]
ColumnName = str


class ObjectStoreSource(ApiModel):
    uri: Uri
    """The object to read, for example s3://bucket/path/data.parquet."""
    secret_ref: SecretRef | None = None
    """A Secret holding the credentials (for s3: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL)."""


class PvcSource(ApiModel):
    claim_name: ResourceName
    """A PersistentVolumeClaim in the Dataset's namespace."""
    path: str = Field(min_length=1, max_length=1024, pattern=r"^[^/].*$")
    """The file's path inside the volume, relative to its root."""


MAX_COLUMNS = 256
INLINE_MAX_BYTES = 512 * 1024
"""The most the Dataset's spec may take as compact JSON when its source is inline. The object
holds the spec twice (kopf keeps its diff base in status.kopf) and etcd refuses an object over
1.5 MiB, so a larger one could not even have its status written; the Secret that carries the
spec to the ingest pod (build.ingest_input) holds 1 MiB. The API server cannot count bytes
inside free-form rows (CEL sees nothing in them), so the operator refuses a larger spec before
any Job, naming spec.source.inline.rows; the schema bounds the rows and their columns."""


class InlineSource(ApiModel):
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
    pvc: PvcSource | None = None
    inline: InlineSource | None = None


class Column(ApiModel):
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
    type: ColumnType
    nullable: bool = False
    """Whether a missing value is allowed at all."""
    minimum: float | None = None
    maximum: float | None = None
    allowed_values: list[str] | None = Field(default=None, min_length=1, max_length=256)


class DatasetSchema(ApiModel):
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
    target: ColumnName | None = Field(default=None, max_length=128)
    """The column a model learns to predict."""
    features: list[ColumnName] | None = Field(default=None, min_length=1, max_length=256)
    """The columns a model learns from; all but the target when left out."""


class DatasetValidation(ApiModel):
    min_rows: int = Field(default=1, ge=1)
    """Fewer rows than this makes a version invalid."""
    max_null_fraction: Fraction = 1.0
    """The largest share of missing values any one column may have."""


class DatasetSpec(ApiModel):
    source: DatasetSource
    format: Literal["csv", "parquet"] = "csv"
    schema_: DatasetSchema = Field(alias="schema")
    validation: DatasetValidation | None = None
    refresh_interval: Duration | None = None
    """Re-read the source this often; new content becomes a new version, unchanged content does not."""
    version_history_limit: int = Field(default=10, ge=1, le=100)
    """How many versions status keeps."""


class DatasetVersion(ApiModel):
    sha256: Sha256
    """The sha256 of the canonical form of the content: the version's identity."""
    rows: int = Field(ge=0)
    created_at: datetime
    snapshot_uri: Uri | None = None
    profile_uri: Uri | None = None
    profile_sha256: Sha256 | None = None
    """The sha256 of profile.json (it sets drift bins): a profile with other bytes is refused."""
    metadata_sha256: Sha256 | None = None
    """The sha256 of the version's metadata.json, refused the same way when it changes."""
    valid: bool
    violations: list[str] | None = Field(default=None, max_length=64)
    """Every rule the content broke, when it is invalid."""


class IngestRun(ApiModel):
    """The newest ingest Job: one per spec generation, and one per refresh."""

    job_name: str = Field(max_length=63)
    generation: int = Field(ge=0)
    refresh: int = Field(default=0, ge=0)
    """How many refreshes of this generation came before this one."""
    started_at: datetime
    finished_at: datetime | None = None
    succeeded: bool | None = None
    reason: str | None = Field(default=None, max_length=128)
    message: str | None = Field(default=None, max_length=4096)


class DatasetStatus(StatusBase):
    latest_version: Sha256 | None = None
    """The newest valid version; an invalid version never becomes the latest."""
    latest_rows: int | None = Field(default=None, ge=0)
    versions: list[DatasetVersion] | None = Field(default=None, max_length=100)
    """Newest first, at most spec.versionHistoryLimit entries."""
    ingest: IngestRun | None = None
