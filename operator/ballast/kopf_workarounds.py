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

kopf 1.45.2 leaves a watch stream open when its watcher is cancelled between two events (the
watcher awaits a worker or the index hold, the stream waits at its yield): the stream, an async
generator holding others (streaming_block's context, the HTTP stream), outlives the watcher,
and asyncio closes all of them together when the loop ends, in any order. A nested one closed
first makes the stream's own close fail ("generator didn't stop after athrow()"), logged as an
ERROR with two tracebacks by an operator that stopped cleanly. Each watcher now closes the
streams it opened before it ends, outermost first, while the loop still runs.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from contextvars import ContextVar
from typing import Any, ParamSpec, Protocol

from kopf._cogs.aiokits import aiotoggles
from kopf._cogs.clients import watching
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


class Closable(Protocol):
    async def aclose(self) -> None: ...


_STREAMS_OF_THIS_WATCHER: ContextVar[list[Closable] | None] = ContextVar("streams_of_this_watcher", default=None)
"""Set by each watcher in its own task's context, so a stream opened there is found again."""

logger = logging.getLogger(__name__)
Params = ParamSpec("Params")


def _recording_the_streams(open_stream: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(open_stream)
    def opened_by_a_watcher(**kwargs: Any) -> Any:
        stream = open_stream(**kwargs)
        streams = _STREAMS_OF_THIS_WATCHER.get()
        if streams is not None:
            streams.append(stream)
        return stream

    opened_by_a_watcher.__dict__["records_streams"] = True
    return opened_by_a_watcher


async def _close(streams: list[Closable]) -> None:
    for stream in streams:
        try:
            await stream.aclose()
        except Exception as error:  # one stream's failure leaves the others to close
            logger.warning("a watch stream did not close cleanly: %r", error)


def _closing_its_streams(
    run: Callable[Params, Coroutine[Any, Any, None]],
) -> Callable[Params, Coroutine[Any, Any, None]]:
    @functools.wraps(run)
    async def watcher(*args: Params.args, **kwargs: Params.kwargs) -> None:
        streams: list[Closable] = []
        token = _STREAMS_OF_THIS_WATCHER.set(streams)
        try:
            await run(*args, **kwargs)
        finally:
            _STREAMS_OF_THIS_WATCHER.reset(token)
            # shielded: the watcher is usually here because it was cancelled, maybe twice
            await asyncio.shield(_close(streams))

    watcher.__dict__["closes_streams"] = True
    return watcher


def close_watch_streams_with_their_watcher() -> None:
    # the watcher looks watching.infinite_watch up at every stream it opens
    if not getattr(watching.infinite_watch, "records_streams", False):
        watching.infinite_watch = _recording_the_streams(watching.infinite_watch)
    if not getattr(queueing.watcher, "closes_streams", False):
        queueing.watcher = _closing_its_streams(queueing.watcher)
