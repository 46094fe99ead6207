"""Checks a registered artifact before Ballast trusts it: it exists, its sha256 is the one
recorded, and it is a skops file naming only Ballast's trusted types. Nothing is unpickled.

The operator verifies every version at start and every verify interval, so this reads within
bounds whatever the artifact holds: the bytes are hashed as a stream up to a cap, the archive's
headers are bounded before anything is unpacked, and schema.json is scanned as a stream. A bad
artifact is a condition on its one ModelVersion, never the operator's memory."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from ballast.conditions import find_condition
from ballast.models.archive import ArchiveLimits
from ballast.models.artifact_types import check_listed_types
from ballast.models.errors import ModelArtifactError
from ballast.reasons.modelversion import ARTIFACT_VERIFIED, Reason
from ballast.store import METADATA_FILE, ArtifactStore, StoreError
from ballast.store.artifact_store import reading
from ballast.store.errors import ArtifactTooLarge, DigestMismatch
from ballast.store.limits import DEFAULT_MAX_ARTIFACT_BYTES, MAX_METADATA_BYTES


@dataclass(frozen=True)
class Verification:
    ok: bool
    reason: str
    message: str
    metadata: dict = field(default_factory=dict)
    """The metadata.json beside the artifact (metrics, lineage), when there is one."""


def verify_artifact(
    store: ArtifactStore, uri: str, sha256: str, max_bytes: int = DEFAULT_MAX_ARTIFACT_BYTES
) -> Verification:
    try:
        if store.size(uri) > max_bytes:  # refused without reading when the store says so up front
            raise ArtifactTooLarge(store.uri_of(uri), max_bytes)
        store.verify_sha256(uri, sha256, max_bytes)
        # Ballast's own list, read from the archive's schema.json; skops adds its check where
        # the model is loaded (see artifact_types.check_listed_types for why not here). The
        # pod that loads the model checks its own copy of the bytes again, so a file replaced
        # between these two reads is refused there.
        with store.open(uri) as handle, reading(store.uri_of(uri)):
            types = check_listed_types(handle, ArchiveLimits(max_unpacked_bytes=max_bytes))
    except (StoreError, ModelArtifactError, DigestMismatch) as error:
        return Verification(ok=False, reason=error.reason, message=str(error))
    return Verification(
        ok=True,
        reason=Reason.VERIFIED,
        message=f"sha256 verified; {len(types)} trusted types",
        metadata=_sibling_metadata(store, uri),
    )


def _sibling_metadata(store: ArtifactStore, uri: str) -> dict:
    metadata_uri = posixpath.join(posixpath.dirname(uri), METADATA_FILE)
    try:
        return store.read_json(metadata_uri, MAX_METADATA_BYTES) if store.exists(metadata_uri) else {}
    except (StoreError, ValueError):
        return {}


def last_verification(status: dict) -> Verification | None:
    """The outcome the ArtifactVerified condition recorded, for reconciles that need not read
    the artifact again (the rollout timer); None when it was never verified."""
    condition = find_condition(status.get("conditions"), ARTIFACT_VERIFIED)
    if condition is None:
        return None
    return Verification(
        ok=condition["status"] == "True", reason=condition["reason"], message=condition.get("message", "")
    )
