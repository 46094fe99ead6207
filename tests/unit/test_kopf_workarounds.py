"""The kopf workaround patches what kopf really calls, and changes what it decides."""

from kopf._cogs.structs import references
from kopf._core.reactor import observation

from ballast.kopf_workarounds import keep_watching_terminating_namespaces

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
