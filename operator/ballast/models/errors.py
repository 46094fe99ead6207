"""Why a model artifact was refused: each error names a condition reason the operator reports."""

from __future__ import annotations

# One DigestMismatch for the whole of Ballast: the artifact store raises it for any stored
# object, the model format for model bytes, and the operator maps both to the same reason.
from ballast.store.errors import DigestMismatch

__all__ = ["DigestMismatch", "ModelArtifactError", "NotASkopsArtifact", "UntrustedArtifact"]


class ModelArtifactError(Exception):
    """An artifact Ballast will not load. `reason` is the condition reason to report."""

    reason = "InvalidArtifact"


class UntrustedArtifact(ModelArtifactError):
    """The artifact is not a skops file, or it holds types outside Ballast's trusted list."""

    reason = "UntrustedArtifact"

    def __init__(self, message: str, untrusted_types: tuple[str, ...] = ()) -> None:
        self.untrusted_types = untrusted_types
        super().__init__(message)


class NotASkopsArtifact(UntrustedArtifact):
    """The bytes are not a skops archive at all (for example a pickle). Nothing was unpickled."""
