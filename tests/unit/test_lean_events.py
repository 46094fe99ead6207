"""Watch events lose the managedFields entries Ballast never reads, and keep the one it does."""

from __future__ import annotations

import asyncio
import copy
import inspect

from kopf._cogs.clients import watching
from kopf._cogs.structs.references import Resource

from ballast.lean_events import (
    CHILDREN_READ_WITHOUT_SPEC,
    lean_watch_events,
    without_unread_managed_fields,
)
from ballast.reconcile.serving import approval_manager

STATUS_WRITER = {
    "manager": "ballast",
    "operation": "Update",
    "subresource": "status",
    "fieldsV1": {"f:status": {"f:stage": {}, "f:conditions": {}}},
}
CREATOR = {"manager": "kubectl-client-side-apply", "operation": "Update", "fieldsV1": {"f:spec": {"f:model": {}}}}
APPROVER = {
    "manager": "argocd-controller",
    "operation": "Apply",
    "fieldsV1": {"f:spec": {"f:rollout": {"f:approved": {}}}},
}


def event(*entries: dict) -> dict:
    return {
        "type": "MODIFIED",
        "object": {"metadata": {"name": "m-1", "managedFields": [copy.deepcopy(e) for e in entries]}, "spec": {}},
    }


def test_entries_nobody_reads_are_dropped_with_the_field():
    lean = without_unread_managed_fields(event(CREATOR, STATUS_WRITER))
    assert "managedFields" not in lean["object"]["metadata"]
    assert lean["object"]["metadata"]["name"] == "m-1"


def test_the_approver_survives_and_is_still_found():
    raw = event(CREATOR, APPROVER, STATUS_WRITER)
    before = approval_manager(raw["object"]["metadata"]["managedFields"])
    lean = without_unread_managed_fields(raw)
    assert lean["object"]["metadata"]["managedFields"] == [APPROVER]
    assert approval_manager(lean["object"]["metadata"]["managedFields"]) == before == "argocd-controller"


def test_bookmarks_and_odd_shapes_pass_unchanged():
    marker = object()
    assert without_unread_managed_fields(marker) is marker
    odd = {"type": "ERROR", "object": {"code": 410}}
    assert without_unread_managed_fields(copy.deepcopy(odd)) == odd


def test_kopf_streams_are_lean_once_installed_and_installing_twice_wraps_once(monkeypatch):
    async def raw_watch(**_: object):
        yield event(CREATOR, STATUS_WRITER)

    monkeypatch.setattr(watching, "infinite_watch", raw_watch)
    lean_watch_events()
    once = watching.infinite_watch
    lean_watch_events()
    assert watching.infinite_watch is once is not raw_watch

    async def first():
        async for raw_event in watching.infinite_watch(resource=None):
            return raw_event

    assert "managedFields" not in asyncio.run(first())["object"]["metadata"]


BODY_READERS_OF_METADATA_ONLY = {
    "job_changed",
    "pod_changed",
    "deployment_changed",
    "replica_set_changed",
    "service_changed",
}
"""Child handlers that take the whole body: ballast.handlers.triggers.child_event reads only
its labels, owner references and namespace."""


def _child_handlers_without_spec():
    from kopf._core.intents import registries

    import ballast.handlers  # noqa: F401  (registers the handlers)

    registry = registries.get_default_registry()
    for handlers in (registry._indexing, registry._watching, registry._changing, registry._spawning):
        for handler in handlers.get_all_handlers():
            selector = handler.selector
            if (selector.group, selector.plural or selector.any_name) in CHILDREN_READ_WITHOUT_SPEC:
                yield handler


def test_no_handler_of_a_child_whose_spec_is_dropped_reads_the_spec():
    handlers = list(_child_handlers_without_spec())
    assert len(handlers) >= 10, "the children's handlers and indexes are registered"
    for handler in handlers:
        parameters = inspect.signature(handler.fn).parameters
        assert "spec" not in parameters, handler.fn.__name__
        if "body" in parameters:
            assert handler.fn.__name__ in BODY_READERS_OF_METADATA_ONLY, handler.fn.__name__


def test_a_childs_spec_is_dropped_and_a_network_policys_kept(monkeypatch):
    async def raw_watch(**_: object):
        yield {"type": "ADDED", "object": {"metadata": {"name": "p"}, "spec": {"containers": []}, "status": {}}}

    monkeypatch.setattr(watching, "infinite_watch", raw_watch)
    lean_watch_events()

    async def first(group: str, plural: str):
        async for raw_event in watching.infinite_watch(resource=Resource(group, "v1", plural)):
            return raw_event["object"]

    pod = asyncio.run(first("", "pods"))
    assert "spec" not in pod and pod["status"] == {}
    assert "spec" in asyncio.run(first("networking.k8s.io", "networkpolicies"))
    assert "spec" in asyncio.run(first("ballast.dev", "modelversions"))
