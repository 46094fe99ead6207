"""Ballast's safe model format: deterministic skops bytes, sha256-verified, fixed trusted types."""

from ballast.models.digest import sha256_hex, verify_sha256
from ballast.models.errors import DigestMismatch, ModelArtifactError, NotASkopsArtifact, UntrustedArtifact
from ballast.models.skops_format import (
    ARTIFACT_FORMAT, MODEL_FILE_NAME, SerializedModel, check_artifact_types, load_model, serialize_model,
)

__all__ = [
    "ARTIFACT_FORMAT", "MODEL_FILE_NAME", "DigestMismatch", "ModelArtifactError", "NotASkopsArtifact",
    "SerializedModel", "UntrustedArtifact", "check_artifact_types", "load_model", "serialize_model",
    "sha256_hex", "verify_sha256",
]
