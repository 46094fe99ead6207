"""Streaming helpers shared by the backends: artifacts can be larger than memory, and a reader
never takes more than the cap it is given, whatever size the object claims."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import BinaryIO

from ballast.store.errors import ArtifactTooLarge

CHUNK = 1 << 20


def iter_chunks(source: BinaryIO, size: int = CHUNK) -> Iterator[bytes]:
    while chunk := source.read(size):
        yield chunk


def iter_capped(source: BinaryIO, max_bytes: int | None, what: str = "the artifact") -> Iterator[bytes]:
    """The chunks of source; ArtifactTooLarge as soon as more than max_bytes were read (None: no cap).
    Counting what is read, not trusting a size reported beforehand, which may change or lie."""
    total = 0
    for chunk in iter_chunks(source, CHUNK if max_bytes is None else max(1, min(CHUNK, max_bytes + 1))):
        total += len(chunk)
        if max_bytes is not None and total > max_bytes:
            raise ArtifactTooLarge(what, max_bytes)
        yield chunk


def read_capped(source: BinaryIO, max_bytes: int | None, what: str = "the artifact") -> bytes:
    return b"".join(iter_capped(source, max_bytes, what))


def sha256_of_stream(source: BinaryIO, max_bytes: int | None = None, what: str = "the artifact") -> str:
    digest = hashlib.sha256()
    for chunk in iter_capped(source, max_bytes, what):
        digest.update(chunk)
    return digest.hexdigest()
