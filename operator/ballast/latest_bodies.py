"""The newest body the watch delivered for each queued object, so that the reconcile an event
queued needs no GET of its own.

A body is handed to a reconcile only when it is newer than the operator's own last write to
that object: after a status write returns, the watch may still deliver an event from before
it, and a reconcile of that body would decide again on the status it already changed (and post
its Events twice); such an object is read afresh instead. "Newer" compares resourceVersions,
which etcd-backed API servers issue as increasing integers; a resourceVersion that is not one
keeps nothing, and the object is read.

A kept body is kept as its JSON text. After a restart every object's first event queues a
reconcile at once, and thousands of bodies wait for the workers: as Python dicts and strings
they took several times their JSON's size, which the heap kept after they were gone.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Hashable, Mapping
from typing import Any, Generic, TypeVar

Key = TypeVar("Key", bound=Hashable)


def version_of(resource_version: object) -> int | None:
    text = str(resource_version or "")
    return int(text) if text.isdigit() else None


class LatestBodies(Generic[Key]):
    def __init__(self) -> None:
        self._bodies: dict[Key, bytes] = {}
        self._written: dict[Key, int] = {}
        """Objects written by the operator whose write the watch has not delivered yet."""
        self._lock = threading.Lock()

    def observe(self, key: Key, body: Mapping[str, Any], *, queued: bool) -> None:
        """Every watch event of an object; queued: the event queued a reconcile. A body already
        kept is replaced by any newer one, so the reconcile sees the newest."""
        version = version_of(body.get("metadata", {}).get("resourceVersion"))
        with self._lock:
            written = self._written.get(key)
            if written is not None and version is not None and version >= written:
                del self._written[key]  # the watch has caught up with the operator's write
                written = None
            if not queued and key not in self._bodies:
                return
            if version is None or (written is not None and version < written):
                self._bodies.pop(key, None)
            else:
                self._bodies[key] = json.dumps(body, separators=(",", ":")).encode()

    def wrote(self, key: Key, resource_version: str | None) -> None:
        """The operator wrote the object (resource_version: what the write returned, None when
        unknown): a body kept from before it is stale."""
        version = version_of(resource_version)
        with self._lock:
            self._bodies.pop(key, None)
            if version is not None:
                self._written[key] = max(version, self._written.get(key, 0))

    def take(self, key: Key) -> dict[str, Any] | None:
        """The kept body, given up: None when the object must be read."""
        with self._lock:
            kept = self._bodies.pop(key, None)
        return json.loads(kept) if kept is not None else None

    def forget(self, key: Key) -> None:
        with self._lock:
            self._bodies.pop(key, None)
            self._written.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._bodies) + len(self._written)
