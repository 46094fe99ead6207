"""The kopf workaround patches what kopf really calls, and changes what it decides."""

import asyncio

import kopf
from kopf._cogs.aiokits import aiotoggles
from kopf._cogs.clients import watching
from kopf._cogs.structs import references
from kopf._core.reactor import observation, queueing

from ballast.kopf_workarounds import keep_watching_terminating_namespaces, let_stopped_streams_release_the_index_hold

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
