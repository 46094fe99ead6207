"""Why a model artifact was refused: each error names a condition reason the operator reports."""

from __future__ import annotations

# One DigestMismatch for the whole of Ballast: the artifact store raises it for any stored
# object, the model format for model bytes, and the operator maps both to the same reason.
# Too many bytes, to read or to unpack, is the store's ArtifactTooLarge, whichever reader finds it.
from ballast.store.errors import ArtifactTooLarge, DigestMismatch

__all__ = [
    "ArtifactTooLarge",
    "DigestMismatch",
    "InvalidModelStructure",
    "ModelArtifactError",
    "NotASkopsArtifact",
    "UnsafeArchive",
    "UntrustedArtifact",
]


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


class UnsafeArchive(ModelArtifactError):
    """A zip made to exhaust whoever unpacks it: too many members, a compression ratio no model
    has, a central directory bigger than any model needs. Refused from its headers alone."""

    reason = "UnsafeArchive"


class InvalidModelStructure(ModelArtifactError):
    """A tree model whose node arrays are not a tree scikit-learn could have built: a child index
    out of range or pointing backwards (a cycle), a feature beyond the input's width, values of
    the wrong shape. scikit-learn indexes these arrays without bounds checks, so serving or
    training on one reads arbitrary memory; it is refused right after loading, before any use."""

    reason = "InvalidModelStructure"
