"""Checks a registered artifact before Ballast trusts it: it exists, its sha256 is the one
recorded, and it is a skops file naming only Ballast's trusted types. Nothing is unpickled."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from ballast.conditions import find_condition
from ballast.models.digest import verify_sha256
from ballast.models.errors import ModelArtifactError
from ballast.models.artifact_types import check_listed_types
from ballast.store import METADATA_FILE, ArtifactStore, StoreError
from ballast.store.errors import DigestMismatch


@dataclass(frozen=True)
class Verification:
    ok: bool
    reason: str
    message: str
    metadata: dict = field(default_factory=dict)
    """The metadata.json beside the artifact (metrics, lineage), when there is one."""


def verify_artifact(store: ArtifactStore, uri: str, sha256: str) -> Verification:
    try:
        data = store.read_bytes(uri)
        verify_sha256(data, sha256, what=uri)
        # Ballast's own list, read from the archive's schema.json; skops adds its check where
        # the model is loaded (see artifact_types.check_listed_types for why not here)
        types = check_listed_types(data)
    except (StoreError, ModelArtifactError, DigestMismatch) as error:
        return Verification(ok=False, reason=error.reason, message=str(error))
    return Verification(ok=True, reason="Verified",
                        message=f"sha256 verified; {len(types)} trusted types",
                        metadata=_sibling_metadata(store, uri))


def _sibling_metadata(store: ArtifactStore, uri: str) -> dict:
    metadata_uri = posixpath.join(posixpath.dirname(uri), METADATA_FILE)
    try:
        return store.read_json(metadata_uri) if store.exists(metadata_uri) else {}
    except (StoreError, ValueError):
        return {}


def last_verification(status: dict) -> Verification | None:
    """The outcome the ArtifactVerified condition recorded, for reconciles that need not read
    the artifact again (the rollout timer); None when it was never verified."""
    condition = find_condition(status.get("conditions"), "ArtifactVerified")
    if condition is None:
        return None
    return Verification(ok=condition["status"] == "True", reason=condition["reason"],
                        message=condition.get("message", ""))
