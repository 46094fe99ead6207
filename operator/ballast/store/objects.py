"""What a listing of the store returns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class StoredObject:
    key: str
    """Relative to the store's root, as ArtifactStore methods take it."""
    size: int
    modified: datetime | None
    """When the object was written (write-once: never changed after); None when the store does not say."""
