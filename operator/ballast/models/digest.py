"""The sha256 that identifies a model artifact, and the check made before any byte is parsed."""

from __future__ import annotations

import hashlib
import hmac

from ballast.models.errors import DigestMismatch


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def verify_sha256(data: bytes, expected_sha256: str, what: str = "model artifact") -> None:
    """Raise DigestMismatch unless `data` hashes to `expected_sha256` (lowercase hex)."""
    actual = sha256_hex(data)
    if not hmac.compare_digest(actual, expected_sha256.strip().lower()):
        raise DigestMismatch(what, expected_sha256, actual)
