"""What can go wrong in the artifact store, as exception types the operator maps to condition reasons.

Each type carries `reason`, the CamelCase word a condition or an Event uses, so a handler
can write `reason=error.reason` without a lookup table of its own.
"""

from __future__ import annotations


class StoreError(Exception):
    """Base of every artifact-store failure."""

    reason = "StoreError"


class ArtifactNotFound(StoreError):
    """The key or URI names nothing in the store."""

    reason = "ArtifactMissing"


class ArtifactOutsideStore(StoreError):
    """A key or URI that would resolve outside the store's root (.., absolute, symlink, other bucket)."""

    reason = "ArtifactOutsideStore"


class ArtifactConflict(StoreError):
    """A write-once key already holds different bytes: artifacts are never rewritten."""

    reason = "ArtifactConflict"


class DigestMismatch(StoreError):
    """The content's sha256 is not the one it was recorded with: altered or corrupted."""

    reason = "DigestMismatch"

    def __init__(self, what: str, expected: str, actual: str) -> None:
        super().__init__(f"{what}: expected sha256 {expected}, found {actual}")
        self.expected = expected
        self.actual = actual


class StoreUnavailable(StoreError):
    """The store could not be reached or refused the credentials (network, endpoint, access denied)."""

    reason = "StoreUnavailable"


class ArtifactTooLarge(StoreError):
    """More bytes than Ballast reads from one object: refused before it could exhaust memory."""

    reason = "ArtifactTooLarge"

    def __init__(self, what: str, max_bytes: int, limit: str = "the chart's artifacts.maxBytes") -> None:
        super().__init__(f"{what} is larger than {max_bytes} bytes, the most Ballast reads ({limit})")
        self.max_bytes = max_bytes
