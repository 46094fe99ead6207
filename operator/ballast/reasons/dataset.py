"""The reasons a Dataset's conditions and Events carry. An ingest pod's own failure reasons
(SourceNotFound, EgressDenied, ...) pass through as the pod wrote them."""

from __future__ import annotations

from enum import StrEnum


class DatasetReason(StrEnum):
    INGESTING = "Ingesting"
    """An ingest Job of a new spec, or before a first valid version, is running (Ready Unknown,
    Reconciling True, and the Normal Event that starts it)."""
    REFRESHING = "Refreshing"
    """Reconciling and Stalled False while a refresh ingest runs beside a valid version."""
    INGESTED = "Ingested"
    """The newest ingest finished and recorded a version (status.ingest.reason)."""
    INGEST_FAILED = "IngestFailed"
    """The ingest pod failed without saying why."""
    INLINE_DATA_TOO_LARGE = "InlineDataTooLarge"
    """The inline rows do not fit in the Secret that would carry them to the ingest pod."""
    NEW_VERSION = "NewVersion"
    """Event: a valid version the status did not list yet."""
    INVALID_DATA = "InvalidData"
    """The newest version broke the schema or the validation rules."""
    VERSION_AVAILABLE = "VersionAvailable"
    """Ready True: a valid version is there to train on."""
