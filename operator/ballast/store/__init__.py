"""The artifact store: write-once, content-addressed objects under one fsspec root URI."""

from ballast.store.artifact_store import DEFAULT_STORE_URI, STORE_URI_ENV, ArtifactStore, canonical_json_bytes
from ballast.store.errors import (
    ArtifactConflict,
    ArtifactNotFound,
    ArtifactOutsideStore,
    DigestMismatch,
    StoreError,
    StoreUnavailable,
)
from ballast.store.layout import (
    DATA_FILE,
    METADATA_FILE,
    PROFILE_FILE,
    dataset_version_key,
    model_version_key,
)

__all__ = [
    "DEFAULT_STORE_URI",
    "STORE_URI_ENV",
    "ArtifactStore",
    "canonical_json_bytes",
    "ArtifactConflict",
    "ArtifactNotFound",
    "ArtifactOutsideStore",
    "DigestMismatch",
    "StoreError",
    "StoreUnavailable",
    "DATA_FILE",
    "METADATA_FILE",
    "PROFILE_FILE",
    "dataset_version_key",
    "model_version_key",
]
