"""Ballast's CRD schemas as the API server reads them: the spec schema of each kind, the
concrete nodes of an object with the paths the API server names in its messages, and
structural defaulting (null pruning, then defaults), which happens before validation."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import yaml

from ballast.api.kinds import ALL_KINDS
from tests.support.kube import REPO

KINDS = {kind.kind: kind for kind in ALL_KINDS}

# Every OpenAPI keyword the generators understand. A CRD that starts using another one (format,
# uniqueItems, minProperties, ...) fails test_generator until the generators learn it, rather
# than being generated as if the keyword were not there.
SUPPORTED_KEYWORDS = frozenset(
    {
        "type",
        "description",
        "default",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "enum",
        "pattern",
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "minItems",
        "maxItems",
        "maxProperties",
        "anyOf",
        "x-kubernetes-validations",
        "x-kubernetes-preserve-unknown-fields",
        "x-kubernetes-int-or-string",
        "x-kubernetes-list-type",
        "x-kubernetes-list-map-keys",
    }
)


@cache
def spec_schema(kind: str) -> dict:
    """The openAPIV3Schema of the kind's spec, from the committed CRD in crds/."""
    crd = yaml.safe_load((REPO / "crds" / f"{KINDS[kind].crd_name}.yaml").read_text())
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]


def is_free_form(node: dict) -> bool:
    return bool(node.get("x-kubernetes-preserve-unknown-fields")) and "properties" not in node


def is_map(node: dict) -> bool:
    return isinstance(node.get("additionalProperties"), dict)


def is_int_or_string(node: dict) -> bool:
    return bool(node.get("x-kubernetes-int-or-string"))


def schema_nodes(node: dict, path: str = "spec") -> Iterator[tuple[str, dict]]:
    """Every schema node below node, with a path where [] stands for any item, {} for any map value."""
    yield path, node
    for name, child in (node.get("properties") or {}).items():
        yield from schema_nodes(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from schema_nodes(node["items"], f"{path}[]")
    if is_map(node):
        yield from schema_nodes(node["additionalProperties"], f"{path}{{}}")
    for variant in node.get("anyOf") or ():
        yield from schema_nodes(variant, path)


@dataclass
class Place:
    """One value inside an object, where it sits, and the schema it must satisfy."""

    path: str
    """As the API server writes it: spec.schema.columns[0].name, spec.resources.requests.cpu."""
    schema: dict
    value: Any
    parent: dict | list | None
    key: str | int | None


def places(schema: dict, value: Any, path: str = "spec", parent=None, key=None) -> Iterator[Place]:
    """Every value of a schema-valid object, outermost first; free-form content is one value."""
    yield Place(path, schema, value, parent, key)
    if is_free_form(schema) or is_int_or_string(schema):
        return
    if isinstance(value, dict):
        for name, child in value.items():
            child_schema = (schema.get("properties") or {}).get(name)
            if child_schema is None and is_map(schema):
                child_schema = schema["additionalProperties"]
            if child_schema is not None:
                yield from places(child_schema, child, f"{path}.{name}", value, name)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            yield from places(schema["items"], item, f"{path}[{index}]", value, index)


def with_defaults(schema: dict, value: Any) -> Any:
    """The value as the API server stores it: nulls of non-nullable fields pruned, then every
    missing field that has a default filled in, at every depth."""
    value = copy.deepcopy(value)
    _default_in_place(schema, value)
    return value


def _default_in_place(schema: dict, value: Any) -> None:
    if is_free_form(schema) or is_int_or_string(schema):
        return
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        for name in [name for name, child in value.items() if child is None and name in properties]:
            del value[name]
        for name, child_schema in properties.items():
            if name not in value and "default" in child_schema:
                value[name] = copy.deepcopy(child_schema["default"])
        for name, child in value.items():
            child_schema = properties.get(name) or (schema["additionalProperties"] if is_map(schema) else None)
            if child_schema is not None:
                _default_in_place(child_schema, child)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            _default_in_place(schema["items"], item)
