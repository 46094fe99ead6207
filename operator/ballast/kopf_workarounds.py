"""Workarounds for kopf behaviour that loses work, each pinned by a test.

kopf 1.45.2, when it watches namespaces by name or pattern (Ballast's namespaced mode), stops
watching a namespace as soon as the namespace is marked for deletion and its status carries
no blocking condition yet: the first update after `kubectl delete namespace` usually looks
like that. Its Ballast objects then keep their finalizers (kopf puts one on every object
with a timer) with nobody left to remove them, and the namespace stays Terminating for good
(the same family as nolar/kopf#1088). Watching on until the namespace is really gone lets
kopf finalize them as it does in cluster-wide mode.
"""

from __future__ import annotations

from kopf._cogs.structs.bodies import RawEvent
from kopf._core.reactor import observation


def _namespace_gone(raw_event: RawEvent) -> bool:
    """A namespace leaves the watched set when it is deleted, not when deletion starts."""
    return raw_event.get("type") == "DELETED"


def keep_watching_terminating_namespaces() -> None:
    # revise_namespaces looks is_deleted up in its module at every call
    observation.is_deleted = _namespace_gone
