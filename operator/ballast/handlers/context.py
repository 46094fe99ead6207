"""What every handler shares: the settings, read once when the handlers are imported."""

from __future__ import annotations

import functools
from datetime import datetime, timezone

from ballast.settings import Settings
from ballast.store import ArtifactStore

SETTINGS = Settings.from_env()


@functools.cache
def artifact_store() -> ArtifactStore:
    return ArtifactStore.from_env()


def now() -> datetime:
    return datetime.now(timezone.utc)
