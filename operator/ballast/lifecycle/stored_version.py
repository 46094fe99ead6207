"""A pinned dataset version that has left the Dataset's status history, resolved from the store.

A Dataset's status keeps the newest `versionHistoryLimit` versions (10 by default), but a
version's files stay in the store until `ballast gc` or `ballast erase` deletes them. A
TrainingRun (or a `ballast reproduce` run) pinned to an older version is resolved from the
version's metadata.json instead, and only when it checks out: metadata.json names this dataset
and this sha256 and says valid, its bytes (and profile.json's) have the digests the run
recorded when it recorded any, and data.parquet is there. The trainer still recomputes the
snapshot's canonical sha256 before using a single row.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from ballast.reasons.trainingrun import TrainingRunReason
from ballast.store import DATA_FILE, METADATA_FILE, PROFILE_FILE, ArtifactStore, StoreError, dataset_version_key
from ballast.store.errors import ArtifactNotFound
from ballast.store.layout import PARTS_DIRECTORY
from ballast.store.limits import MAX_DATASET_JSON_BYTES

NOT_IN_STORE = TrainingRunReason.DATASET_NOT_READY
"""As a version missing from status: the run waits for it (until dataset_wait_seconds)."""
REFUSED = TrainingRunReason.DATASET_VERSION_INVALID
"""Present but not what was pinned (altered, invalid, another dataset): the run fails at once."""


@dataclass(frozen=True)
class PinnedVersion:
    """A dataset version a run asks for, with the digests it recorded for it (if any)."""

    dataset: str
    sha256: str
    metadata_sha256: str | None = None
    profile_sha256: str | None = None


@dataclass(frozen=True)
class StoredVersion:
    """What the store says about a pinned version: a status-shaped entry, or why there is none."""

    sha256: str
    entry: dict[str, Any] | None = None
    reason: str = ""
    message: str = ""


@dataclass(frozen=True)
class StoredFiles:
    """What was read from the version's directory (the I/O's result, the pure check's input)."""

    metadata: Any
    metadata_sha256: str
    profile_sha256: str | None
    has_data: bool
    snapshot_uri: str
    profile_uri: str


def stored_version_entry(pinned: PinnedVersion, files: StoredFiles) -> StoredVersion:
    """The version as a Dataset's status would list it, when the stored files are that version."""

    def refused(why: str) -> StoredVersion:
        return StoredVersion(
            pinned.sha256,
            reason=REFUSED,
            message=f"Dataset {pinned.dataset} version {pinned.sha256[:12]} in the store: {why}",
        )

    metadata = files.metadata
    if pinned.metadata_sha256 and files.metadata_sha256 != pinned.metadata_sha256.lower():
        return refused(f"metadata.json has sha256 {files.metadata_sha256}, the run recorded {pinned.metadata_sha256}")
    if not isinstance(metadata, dict):
        return refused("metadata.json is not a JSON object")
    if metadata.get("dataset") != pinned.dataset or metadata.get("sha256") != pinned.sha256:
        return refused("metadata.json names another dataset or version")
    if metadata.get("valid") is not True:
        return refused("the version was recorded invalid")
    if not files.has_data or files.profile_sha256 is None:
        return refused("data.parquet or profile.json is missing")
    if pinned.profile_sha256 and files.profile_sha256 != pinned.profile_sha256.lower():
        return refused(f"profile.json has sha256 {files.profile_sha256}, the run recorded {pinned.profile_sha256}")
    rows, created = metadata.get("rows"), metadata.get("createdAt")
    if not isinstance(rows, int) or isinstance(rows, bool) or rows < 0 or not isinstance(created, str):
        return refused("metadata.json has no row count or creation time")
    return StoredVersion(
        pinned.sha256,
        entry={
            "sha256": pinned.sha256,
            "rows": rows,
            "createdAt": created,
            "valid": True,
            "snapshotUri": files.snapshot_uri,
            "profileUri": files.profile_uri,
            "profileSha256": files.profile_sha256,
            "metadataSha256": files.metadata_sha256,
        },
    )


def read_stored_version(store: ArtifactStore, pinned: PinnedVersion) -> StoredVersion:
    """`store` is the namespace's part of the store (handlers.context.namespace_artifact_store).
    Reads at most metadata.json and profile.json, each bounded; never the snapshot."""
    try:
        metadata_key = dataset_version_key(pinned.dataset, pinned.sha256, METADATA_FILE)
        profile_key = dataset_version_key(pinned.dataset, pinned.sha256, PROFILE_FILE)
        data_key = dataset_version_key(pinned.dataset, pinned.sha256, DATA_FILE)
    except (ValueError, StoreError) as error:
        return StoredVersion(pinned.sha256, reason=REFUSED, message=str(error))
    try:
        raw = store.read_bytes(metadata_key, MAX_DATASET_JSON_BYTES)
    except ArtifactNotFound:
        return StoredVersion(
            pinned.sha256,
            reason=NOT_IN_STORE,
            message=f"Dataset {pinned.dataset} has no version {pinned.sha256[:12]} "
            "(neither in its status history nor in the store)",
        )
    except StoreError as error:
        return StoredVersion(
            pinned.sha256,
            reason=NOT_IN_STORE,
            message=f"Dataset {pinned.dataset} version {pinned.sha256[:12]} is not in its status "
            f"history and the store could not be read: {error.reason}",
        )
    try:
        metadata: Any = json.loads(raw)
    except ValueError:
        metadata = None
    try:
        profile_sha256: str | None = store.sha256_of(profile_key, MAX_DATASET_JSON_BYTES)
    except StoreError:
        profile_sha256 = None
    snapshot_key = data_key
    if isinstance(metadata, dict) and (parts := _parts_of(metadata)) is not None:
        # A partitioned snapshot: its URI is the parts' prefix; the data is there when they are.
        snapshot_key = dataset_version_key(pinned.dataset, pinned.sha256, PARTS_DIRECTORY)
        data_key = f"{snapshot_key}/{parts[0]}" if parts else snapshot_key
    try:
        has_data = store.exists(data_key)
    except StoreError:
        has_data = False
    return stored_version_entry(
        pinned,
        StoredFiles(
            metadata=metadata,
            metadata_sha256=hashlib.sha256(raw).hexdigest(),
            profile_sha256=profile_sha256,
            has_data=has_data,
            snapshot_uri=store.uri_of(snapshot_key),
            profile_uri=store.uri_of(profile_key),
        ),
    )


def _parts_of(metadata: dict[str, Any]) -> list[str] | None:
    files = metadata.get("files")
    if not isinstance(files, dict) or files.get("data") != PARTS_DIRECTORY:
        return None
    parts = files.get("parts")
    return [str(part) for part in parts] if isinstance(parts, list) else []
