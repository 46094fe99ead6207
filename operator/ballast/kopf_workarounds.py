"""Workarounds for kopf behaviour that loses work, each pinned by a test.

kopf 1.45.2 holds every handler until each watch stream has listed its objects once (so that
indexes are complete), and each object's first event has been indexed. A stream stopped before
its first list (its namespace was deleted at that moment: a test session deletes namespaces all
the time) or an object's worker stopped before its first event never lets go of that hold, and
the operator never runs a handler again: seen in the test sessions of an operator started
while namespaces of its pattern were being deleted. A stopped stream or worker now lets go.

kopf 1.45.2, when it watches namespaces by name or pattern (Ballast's namespaced mode), stops
watching a namespace as soon as the namespace is marked for deletion and its status carries
no blocking condition yet: the first update after `kubectl delete namespace` usually looks
like that. Its Ballast objects then keep their finalizers (kopf puts one on every object
with a timer) with nobody left to remove them, and the namespace stays Terminating for good
(the same family as nolar/kopf#1088). Watching on until the namespace is really gone lets
kopf finalize them as it does in cluster-wide mode.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any

from kopf._cogs.aiokits import aiotoggles
from kopf._cogs.structs.bodies import RawEvent
from kopf._core.reactor import observation, queueing


def _namespace_gone(raw_event: RawEvent) -> bool:
    """A namespace leaves the watched set when it is deleted, not when deletion starts."""
    return raw_event.get("type") == "DELETED"


def keep_watching_terminating_namespaces() -> None:
    # revise_namespaces looks is_deleted up in its module at every call
    observation.is_deleted = _namespace_gone


Stream = Callable[..., Awaitable[None]]


def _letting_go_of_the_index_hold(run: Stream) -> Stream:
    """A watch stream (queueing.watcher) or an object's worker (queueing.worker) that drops its
    own hold on the operator's readiness however it ends; once it has ended normally, kopf has
    dropped it already and this changes nothing."""

    @functools.wraps(run)
    async def stream(
        *,
        operator_indexed: aiotoggles.ToggleSet | None = None,
        resource_indexed: aiotoggles.Toggle | None = None,
        **kwargs: Any,
    ) -> None:
        try:
            await run(operator_indexed=operator_indexed, resource_indexed=resource_indexed, **kwargs)
        finally:
            if operator_indexed is not None and resource_indexed is not None:
                await asyncio.shield(operator_indexed.drop_toggle(resource_indexed))

    stream.__dict__["letting_go"] = True
    return stream


def let_stopped_streams_release_the_index_hold() -> None:
    # orchestration looks queueing.watcher up, and the watcher looks worker up, at every call
    for name in ("watcher", "worker"):
        run = getattr(queueing, name)
        if not getattr(run, "letting_go", False):
            setattr(queueing, name, _letting_go_of_the_index_hold(run))
