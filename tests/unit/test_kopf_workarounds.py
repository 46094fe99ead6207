"""The kopf workaround patches what kopf really calls, and changes what it decides."""

import asyncio

import kopf
from kopf._cogs.aiokits import aiotoggles
from kopf._cogs.clients import watching
from kopf._cogs.structs import references
from kopf._core.reactor import observation, queueing

from ballast.kopf_workarounds import (
    close_watch_streams_with_their_watcher,
    keep_watching_terminating_namespaces,
    let_stopped_streams_release_the_index_hold,
)
from ballast.lean_events import lean_watch_events

# kopf's own predicate, taken before any test applies the workaround
KOPF_IS_DELETED = observation.is_deleted


def _namespace_event(type: str | None, *, terminating: bool) -> dict:
    metadata = {"name": "team-a"}
    status = {"phase": "Active"}
    if terminating:
        metadata["deletionTimestamp"] = "2026-11-27T12:00:00Z"
        status = {
            "phase": "Terminating",
            "conditions": [{"type": "NamespaceDeletionContentFailure", "status": "False", "reason": "ContentDeleted"}],
        }
    return {"type": type, "object": {"metadata": metadata, "status": status}}


def _watched_after(*events: dict) -> set:
    insights = references.Insights()
    observation.revise_namespaces(insights=insights, namespaces=["team-*"], raw_events=list(events))
    return set(insights.namespaces)


def test_a_namespace_being_deleted_stays_watched_until_it_is_gone(monkeypatch):
    monkeypatch.setattr(observation, "is_deleted", observation.is_deleted)  # restored after the test
    added, terminating = _namespace_event("ADDED", terminating=False), _namespace_event("MODIFIED", terminating=True)
    assert _watched_after(added, terminating) == set(), "kopf itself no longer drops it: retire the workaround"

    keep_watching_terminating_namespaces()
    assert _watched_after(added, terminating) == {"team-a"}
    assert _watched_after(added, terminating, _namespace_event("DELETED", terminating=True)) == set()


def test_kopf_still_takes_a_namespace_marked_for_deletion_for_deleted():
    """The workaround's reason to exist: when this fails, kopf keeps watching a Terminating
    namespace by itself, and ballast.kopf_workarounds (and kopf's pin) can go."""
    marked = _namespace_event("MODIFIED", terminating=True)
    assert KOPF_IS_DELETED(marked), "kopf no longer drops a Terminating namespace: retire the workaround"
    assert not KOPF_IS_DELETED(_namespace_event("MODIFIED", terminating=False))


# --- the index hold of a stream stopped before its first list ---------------------------------


KOPF_WATCHER = queueing.watcher


async def _never_listed(**_):
    """A watch stream whose first list never comes: its namespace is gone meanwhile."""
    await asyncio.Event().wait()
    yield None  # pragma: no cover


async def _hold_after_stopping_a_watcher(watcher) -> bool:
    """Whether the operator is still held after a stream is stopped before its first list."""
    readiness = aiotoggles.ToggleSet(all)
    hold = await readiness.make_toggle(name="datasets@team-a")
    task = asyncio.create_task(
        watcher(
            namespace="team-a",
            settings=kopf.OperatorSettings(),
            resource=references.Resource("ballast.dev", "v1alpha1", "datasets"),
            processor=lambda **_: None,
            operator_indexed=readiness,
            resource_indexed=hold,
        )
    )
    await asyncio.sleep(0.05)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return readiness.is_off()


def test_a_stream_stopped_before_its_first_list_no_longer_holds_the_operator(monkeypatch):
    monkeypatch.setattr(watching, "infinite_watch", _never_listed)
    monkeypatch.setattr(queueing, "watcher", KOPF_WATCHER)
    monkeypatch.setattr(queueing, "worker", queueing.worker)
    assert asyncio.run(_hold_after_stopping_a_watcher(KOPF_WATCHER)), "kopf lets go by itself: retire the workaround"

    let_stopped_streams_release_the_index_hold()
    let_stopped_streams_release_the_index_hold()  # once is enough: never wrapped twice
    assert queueing.watcher.__wrapped__ is KOPF_WATCHER
    assert not asyncio.run(_hold_after_stopping_a_watcher(queueing.watcher))


# --- the streams a cancelled watcher leaves open -----------------------------------------------


async def _endless_events(**_: object):
    """A watch that always has the next event at hand: its stream never awaits the network."""
    uid = 0
    while True:
        uid += 1
        yield {"type": "ADDED", "object": {"metadata": {"uid": str(uid), "name": "x", "namespace": "team-a"}}}


async def _kopf_shaped_watcher(**kwargs: object) -> None:
    """What queueing.watcher does, reduced to the part that matters: it keeps its stream in a
    local and awaits its workers between events, so a cancel lands there, not in the stream."""
    stream = watching.infinite_watch(**kwargs)
    async for _ in stream:
        await asyncio.Event().wait()


def _errors_when_watchers_are_cancelled_and_the_loop_ends(watchers: int = 20) -> list[str]:
    errors: list[str] = []
    cancelled: list[asyncio.Task] = []  # kept, as kopf keeps them, until the loop ends

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _, context: errors.append(context["message"]))
        paused = aiotoggles.ToggleSet(any)
        for _ in range(watchers):
            watcher = queueing.watcher(
                namespace="team-a",
                settings=kopf.OperatorSettings(),
                resource=references.Resource("ballast.dev", "v1alpha1", "datasets"),
                operator_paused=paused,
            )
            cancelled.append(asyncio.create_task(watcher))
        await asyncio.sleep(0.05)
        for task in cancelled:
            task.cancel()
        await asyncio.gather(*cancelled, return_exceptions=True)

    asyncio.run(main())
    return errors


def test_a_cancelled_watcher_closes_its_streams_so_the_loop_ends_without_errors(monkeypatch):
    monkeypatch.setattr(watching, "continuous_watch", _endless_events)
    monkeypatch.setattr(watching, "infinite_watch", watching.infinite_watch)
    monkeypatch.setattr(queueing, "watcher", _kopf_shaped_watcher)
    lean_watch_events()
    errors = _errors_when_watchers_are_cancelled_and_the_loop_ends()
    assert any("closing of asynchronous generator" in error for error in errors), "kopf closes them: retire it"

    close_watch_streams_with_their_watcher()
    close_watch_streams_with_their_watcher()  # once is enough: never wrapped twice
    assert queueing.watcher.__wrapped__ is _kopf_shaped_watcher
    assert _errors_when_watchers_are_cancelled_and_the_loop_ends() == []
