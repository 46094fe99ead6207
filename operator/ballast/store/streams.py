"""Streaming helpers shared by the backends: artifacts can be larger than memory."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import BinaryIO

CHUNK = 1 << 20


def iter_chunks(source: BinaryIO, size: int = CHUNK) -> Iterator[bytes]:
    while chunk := source.read(size):
        yield chunk


def sha256_of_stream(source: BinaryIO) -> str:
    digest = hashlib.sha256()
    for chunk in iter_chunks(source):
        digest.update(chunk)
    return digest.hexdigest()
