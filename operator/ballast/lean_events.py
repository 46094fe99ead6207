"""Watch events without the parts of an object that Ballast never reads.

On a start kopf lists every Ballast object and every child (thousands of pods, ReplicaSets,
Services, EndpointSlices, Jobs) and holds each one's event until all of them are indexed: the
operator's peak memory, and the fragmentation it leaves behind, scale with the size of those
bodies. metadata.managedFields is often the largest part of an object that several managers
write (the kubelet, a controller, Ballast's status), and the one thing Ballast reads from it is
who set a ModelVersion's spec.rollout.approved. Every other entry is dropped as each event
arrives, before kopf queues it. So is the spec of the children whose handlers read only their
metadata and status (a pod's containers, volumes and tolerations; a Deployment's or Job's
whole pod template): CHILDREN_READ_WITHOUT_SPEC, kept true by tests/unit/test_lean_events.py.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

from kopf._cogs.clients import watching

from ballast.reconcile.serving import sets_approval

RawWatch = Callable[..., AsyncIterator[Any]]

CHILDREN_READ_WITHOUT_SPEC: frozenset[tuple[str, str]] = frozenset(
    {("", "pods"), ("", "services"), ("apps", "deployments"), ("apps", "replicasets"), ("batch", "jobs")}
)
"""(group, plural) of the children whose kopf handlers and indexes never read spec. Not the
NetworkPolicies: their restorer compares the spec with the one Ballast wants."""


def without_unread_managed_fields(raw_event: Any) -> Any:
    """The event with only the managedFields entries Ballast reads (those setting an approval);
    kopf's bookmarks and anything not shaped like an object event pass unchanged."""
    if not isinstance(raw_event, dict):
        return raw_event
    metadata = (raw_event.get("object") or {}).get("metadata")
    if not isinstance(metadata, dict):
        return raw_event
    entries = metadata.get("managedFields")
    if isinstance(entries, list):
        kept = [entry for entry in entries if isinstance(entry, dict) and sets_approval(entry)]
        if kept:
            metadata["managedFields"] = kept
        else:
            del metadata["managedFields"]
    return raw_event


def without_spec(raw_event: Any) -> Any:
    obj = raw_event.get("object") if isinstance(raw_event, dict) else None
    if isinstance(obj, dict):
        obj.pop("spec", None)
    return raw_event


def spec_unread(resource: Any) -> bool:
    return (getattr(resource, "group", None), getattr(resource, "plural", None)) in CHILDREN_READ_WITHOUT_SPEC


class LeanEvents:
    """A watch stream's events, each made lean as it is read. An iterator, not an async
    generator: asyncio would otherwise close it, at the loop's end, in any order with the stream
    it reads (kopf_workarounds.close_watch_streams_with_their_watcher)."""

    def __init__(self, events: AsyncIterator[Any], *, drop_spec: bool):
        self._events = events
        self._drop_spec = drop_spec

    def __aiter__(self) -> LeanEvents:
        return self

    async def __anext__(self) -> Any:
        lean = without_unread_managed_fields(await anext(self._events))
        return without_spec(lean) if self._drop_spec else lean

    async def aclose(self) -> None:
        if isinstance(self._events, AsyncGenerator):  # kopf's streams are; its annotation is wider
            await self._events.aclose()


def _lean(watch: RawWatch) -> Callable[..., LeanEvents]:
    @functools.wraps(watch)
    def lean_watch(**kwargs: Any) -> LeanEvents:
        return LeanEvents(watch(**kwargs), drop_spec=spec_unread(kwargs.get("resource")))

    lean_watch.__dict__["lean"] = True
    return lean_watch


def lean_watch_events() -> None:
    # kopf's queueing looks watching.infinite_watch up at every stream it starts
    if not getattr(watching.infinite_watch, "lean", False):
        watching.infinite_watch = _lean(watching.infinite_watch)
