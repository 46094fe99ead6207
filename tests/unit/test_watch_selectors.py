"""kopf watches Ballast's children through a server-side label selector: a handler that needed
an unlabelled child would never see it, so every handler of those kinds must ask for the label."""

import importlib
import pkgutil

import kopf
from kopf._cogs.structs.references import Resource

import ballast.handlers
from ballast.api.kinds import GROUP
from ballast.build.naming import MANAGED_BY
from ballast.controller import CHILD_RESOURCES, LIST_CHUNK_SIZE, MANAGED_SELECTOR, configure


def _handlers() -> list:
    for module in pkgutil.walk_packages(ballast.handlers.__path__, "ballast.handlers."):
        importlib.import_module(module.name)
    registry = kopf.get_default_registry()
    return [*registry._indexing.get_all_handlers(), *registry._watching.get_all_handlers()]


def _resource(group: str, version: str, plural: str) -> Resource:
    return Resource(group=group, version=version, plural=plural)


def test_every_child_kind_a_handler_watches_is_filtered_by_the_api_server_and_every_handler_asks_for_ballasts():
    children = {
        (h.selector.group or "", h.selector.version, h.selector.any_name)
        for h in _handlers()
        if h.selector.group != GROUP
    }
    assert children == set(CHILD_RESOURCES)
    for handler in _handlers():
        if handler.selector.group != GROUP:
            assert (handler.labels or {}).get("app.kubernetes.io/managed-by") == MANAGED_BY, handler.id


def test_the_settings_send_the_selector_for_the_children_only_and_list_in_pages():
    settings = kopf.OperatorSettings()
    configure(settings)
    for group, version, plural in CHILD_RESOURCES:
        assert settings.watching.label_selectors.collect(_resource(group, version, plural)) == [MANAGED_SELECTOR]
    assert settings.watching.label_selectors.collect(_resource(GROUP, "v1alpha1", "datasets")) == []
    assert settings.watching.chunk_size == LIST_CHUNK_SIZE
