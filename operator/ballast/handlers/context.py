"""What every handler shares: the settings, read once when the handlers are imported, and the
cluster's ranges as discovered since (ballast.net.discovery)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime

from ballast.net.egress import IPNetwork
from ballast.settings import Settings
from ballast.store import ArtifactStore
from ballast.store.layout import namespace_store_uri

SETTINGS = Settings.from_env()


class LiveSettings:
    """Settings whose egress policy learns cluster ranges while the operator runs. Each
    value handed out is a frozen Settings, replaced whole: a reader never sees half an update,
    and one reconcile works with one policy throughout. Ranges are only ever added: a range
    that was the cluster's stays refused until a restart (a stale deny can be allowed by an
    administrator; a missing one is a hole), and a list that failed removes nothing."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()  # two discoveries adding at once must not lose one's ranges

    def current(self) -> Settings:
        return self._settings

    def add_cluster_ranges(self, ranges: Iterable[IPNetwork]) -> list[IPNetwork]:
        """Adds the ranges not known yet; returns them."""
        with self._lock:
            known = self._settings.egress.cluster_ranges
            added = list(dict.fromkeys(network for network in ranges if network not in known))
            if added:
                self._settings = replace(self._settings, egress=self._settings.egress.with_cluster_ranges(added))
        return added


LIVE_SETTINGS = LiveSettings(SETTINGS)


def current_settings() -> Settings:
    """SETTINGS with the cluster's ranges found so far: for every decision the egress policy
    takes part in (Dataset URLs, ingest Jobs and their NetworkPolicy, Prometheus reads)."""
    return LIVE_SETTINGS.current()


@functools.cache
def namespace_artifact_store(namespace: str) -> ArtifactStore:
    """The part of the store a namespace's objects may name: `<root>/<namespace>`, what its
    pods mount. A ModelVersion's artifact is read through this, so naming another
    namespace's artifact (or any key outside the prefix) is ArtifactOutsideStore, never a read."""
    return ArtifactStore(namespace_store_uri(SETTINGS.store_uri, namespace))


def now() -> datetime:
    return datetime.now(UTC)
