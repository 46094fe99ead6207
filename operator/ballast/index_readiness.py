"""On a start, Ballast's reconciles wait for kopf's indexes to be complete; kopf's handlers do not.

kopf holds every object's handlers until every watch has listed its objects and indexed each
one, so that a handler never reads an index that is missing something. After a restart that
means one waiting worker per object (2,847 with 2,000 Ballast objects and their children), each
holding its event, body, patch and loggers until the last kind is listed: the operator's peak
memory, whose fragmentation it kept for good (about 60 MiB over its idle size).

Ballast's kopf handlers only queue keys (ballast.handlers.triggers), and on a start every
object's first event queues its own reconcile anyway, so they need no complete index; what
must wait is the reconcile, which reads the indexes to decide (whether a Job exists, which
version serves). So until the indexes have first been complete, kopf's workers handle each
event at once and end, and the Runner starts reconciling only once `IndexReadiness` says so.
After that kopf's own hold stands unchanged (a namespace watched later waits as kopf made it).
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from kopf._cogs.aiokits import aiotoggles
from kopf._core.reactor import queueing


class IndexReadiness:
    """Whether kopf's indexes have been complete once since the operator started: a thread-safe
    flag, set from kopf's own readiness toggles."""

    def __init__(self) -> None:
        self._complete = threading.Event()
        self._followed: aiotoggles.ToggleSet | None = None
        self._follower: asyncio.Task[None] | None = None
        """Held so that the loop, which keeps only a weak reference to a task, does not drop it."""

    def follow(self, operator_indexed: aiotoggles.ToggleSet) -> None:
        """Sets the flag once operator_indexed is on. Every watcher of one operator shares its
        ToggleSet; another one is another operator (a restart in the same process), which
        starts unindexed."""
        if operator_indexed is self._followed:
            return
        self._followed = operator_indexed
        self._complete.clear()
        self._follower = asyncio.create_task(self._complete_when_on(operator_indexed))

    async def _complete_when_on(self, operator_indexed: aiotoggles.ToggleSet) -> None:
        await operator_indexed.wait_for(True)
        if operator_indexed is self._followed:
            self._complete.set()

    def is_complete(self) -> bool:
        return self._complete.is_set()

    def wait(self, timeout: float) -> bool:
        """True once the indexes have been complete; False after timeout seconds without."""
        return self._complete.wait(timeout)


READINESS = IndexReadiness()
"""The operator's (one operator per process)."""


class _HandlingBeforeIndexed:
    """kopf's readiness toggles as a worker sees them: its own toggle is dropped as kopf drops
    it, and waiting for the others returns at once until the first complete index."""

    def __init__(self, operator_indexed: aiotoggles.ToggleSet, readiness: IndexReadiness) -> None:
        self._operator_indexed = operator_indexed
        self._readiness = readiness

    async def drop_toggle(self, toggle: aiotoggles.Toggle) -> None:
        await self._operator_indexed.drop_toggle(toggle)

    async def wait_for(self, state: bool) -> None:
        if self._readiness.is_complete():
            await self._operator_indexed.wait_for(state)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._operator_indexed, name)


Run = Callable[..., Awaitable[None]]


def _following_readiness(run: Run, readiness: IndexReadiness) -> Run:
    """queueing.watcher, which follows its operator's readiness (a watcher always starts, even
    for a kind without objects, whose workers would never be seen)."""

    @functools.wraps(run)
    async def watcher(*, operator_indexed: aiotoggles.ToggleSet | None = None, **kwargs: Any) -> None:
        if operator_indexed is not None:
            readiness.follow(operator_indexed)
        await run(operator_indexed=operator_indexed, **kwargs)

    watcher.__dict__["follows_readiness"] = True
    return watcher


def _handling_before_indexed(run: Run, readiness: IndexReadiness) -> Run:
    """queueing.worker, handling its events at once until the first complete index."""

    @functools.wraps(run)
    async def worker(*, operator_indexed: aiotoggles.ToggleSet | None = None, **kwargs: Any) -> None:
        if operator_indexed is not None and not readiness.is_complete():
            operator_indexed = _HandlingBeforeIndexed(operator_indexed, readiness)  # type: ignore[assignment]
        await run(operator_indexed=operator_indexed, **kwargs)

    worker.__dict__["handles_before_indexed"] = True
    return worker


def reconciles_wait_for_the_first_index(readiness: IndexReadiness = READINESS) -> None:
    """Patches kopf's watcher and worker (they are looked up in queueing at every call); the
    Runner must then wait for `readiness` before its first reconcile."""
    # the wrappers take kopf's keyword arguments through, whatever they are
    if not getattr(queueing.watcher, "follows_readiness", False):
        queueing.watcher = _following_readiness(queueing.watcher, readiness)  # type: ignore[assignment]
    if not getattr(queueing.worker, "handles_before_indexed", False):
        queueing.worker = _handling_before_indexed(queueing.worker, readiness)  # type: ignore[assignment]
