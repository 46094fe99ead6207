"""What every handler shares: the settings, read once when the handlers are imported."""

from __future__ import annotations

import functools
from datetime import datetime, timezone

from ballast.settings import Settings
from ballast.store import ArtifactStore
from ballast.store.layout import namespace_store_uri

SETTINGS = Settings.from_env()


@functools.cache
def artifact_store() -> ArtifactStore:
    return ArtifactStore.from_env()


@functools.cache
def namespace_artifact_store(namespace: str) -> ArtifactStore:
    """The part of the store a namespace's objects may name: `<root>/<namespace>`, what its
    pods mount. A ModelVersion's artifact is read through this, so naming another
    namespace's artifact (or any key outside the prefix) is ArtifactOutsideStore, never a read."""
    return ArtifactStore(namespace_store_uri(SETTINGS.store_uri, namespace))


def now() -> datetime:
    return datetime.now(timezone.utc)
