"""Turns the typed models into CustomResourceDefinitions with structural OpenAPI v3 schemas.

pydantic emits JSON Schema 2020-12; the API server wants a structural OpenAPI v3.0 subset:
no $ref, no anyOf for optional fields, a type on every node, boolean exclusive bounds, and no
additionalProperties beside properties. Each rewrite below is one of those differences.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ballast.api.kinds import CATEGORY, GROUP, VERSION, KindInfo

# kopf keeps its handler progress and diff base in status.kopf (not in annotations), so
# that the objects a user or Argo CD owns carry nothing but their own metadata.
KOPF_STATUS_FIELD = {
    "type": "object",
    "description": "Operator bookkeeping (handler progress); not part of the API.",
    "x-kubernetes-preserve-unknown-fields": True,
}

# The fields every object has, described as controller-gen describes them, so that
# `kubectl explain` says what they are on Ballast's kinds too.
TYPE_META_FIELDS = {
    "apiVersion": {
        "type": "string",
        "description": "APIVersion defines the versioned schema of this representation of an object. Servers should "
        "convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: "
        "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources",
    },
    "kind": {
        "type": "string",
        "description": "Kind is a string value representing the REST resource this object represents. Servers may "
        "infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: "
        "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
    },
    # The API server refuses anything but a type here (and explain shows ObjectMeta's own text).
    "metadata": {"type": "object"},
}
UNDESCRIBABLE_FIELDS = frozenset({"metadata"})

_DROPPED_KEYS = {"title", "$defs"}


class UndescribedFieldError(ValueError):
    """A field of a kind's schema has no description: `kubectl explain` would show it blank."""


def crd_for(kind: KindInfo) -> dict[str, Any]:
    """The CustomResourceDefinition manifest of one kind; UndescribedFieldError when a field of
    its models has no docstring."""
    spec_schema = structural_schema(kind.spec_model.model_json_schema(by_alias=True, mode="validation"))
    status_schema = structural_schema(kind.status_model.model_json_schema(by_alias=True, mode="serialization"))
    status_schema["properties"]["kopf"] = KOPF_STATUS_FIELD
    status_schema.pop("required", None)
    root = {
        "type": "object",
        "description": kind.description,
        "required": ["spec"],
        "properties": {**TYPE_META_FIELDS, "spec": spec_schema, "status": status_schema},
    }
    undescribed = [path for path in undescribed_fields(root) if path not in UNDESCRIBABLE_FIELDS]
    if undescribed:
        raise UndescribedFieldError(
            f"{kind.kind}: no description on {', '.join(undescribed)}; "
            "give each field a docstring in operator/ballast/api (kubectl explain shows it)"
        )
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": kind.crd_name,
            "labels": {"app.kubernetes.io/name": "ballast", "app.kubernetes.io/part-of": "ballast"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind.kind,
                "listKind": f"{kind.kind}List",
                "plural": kind.plural,
                "singular": kind.singular,
                "shortNames": list(kind.short_names),
                "categories": [CATEGORY],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [column.to_wire() for column in kind.columns],
                    "schema": {"openAPIV3Schema": root},
                }
            ],
        },
    }


def undescribed_fields(schema: dict[str, Any], path: str = "") -> Iterator[str]:
    """The paths (spec.source.url, status.versions[].rows) of the fields under schema that have no
    description. List items and map values are walked into but need none of their own: the field
    that holds them describes them."""
    for name, child in (schema.get("properties") or {}).items():
        child_path = f"{path}.{name}" if path else name
        if not child.get("description"):
            yield child_path
        yield from undescribed_fields(child, child_path)
    for key, suffix in (("items", "[]"), ("additionalProperties", "{}")):
        child = schema.get(key)
        if isinstance(child, dict):
            yield from undescribed_fields(child, f"{path}{suffix}")


def structural_schema(json_schema: dict[str, Any]) -> dict[str, Any]:
    """Inline every $ref and rewrite the result node by node into a structural schema."""
    definitions = json_schema.get("$defs", {})
    return _rewrite(_inline_refs(json_schema, definitions))


def _inline_refs(node: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            target = definitions[node["$ref"].rsplit("/", 1)[-1]]
            siblings = {k: v for k, v in node.items() if k != "$ref"}
            return _inline_refs({**target, **siblings}, definitions)
        return {k: _inline_refs(v, definitions) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline_refs(item, definitions) for item in node]
    return node


def _rewrite(node: dict[str, Any]) -> dict[str, Any]:
    node = _collapse_optional(node)
    node = {k: v for k, v in node.items() if k not in _DROPPED_KEYS}
    if node.get("default", ...) is None:
        del node["default"]
    if node.get("description") is None:
        node.pop("description", None)
    _rewrite_exclusive_bounds(node)
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if node.get("additionalProperties") is False:
        del node["additionalProperties"]  # unknown fields are pruned or refused by the API server
    if node.get("additionalProperties") is True or (
        node.get("type") == "object" and not node.get("properties") and "additionalProperties" not in node
    ):
        node.pop("additionalProperties", None)
        node["x-kubernetes-preserve-unknown-fields"] = True
    if node == {} or set(node) <= {"description", "default"}:
        node["x-kubernetes-preserve-unknown-fields"] = True  # Any: a free-form value
    if "properties" in node:
        node["properties"] = {name: _rewrite(child) for name, child in node["properties"].items()}
        node.setdefault("type", "object")
    if isinstance(node.get("additionalProperties"), dict):
        node["additionalProperties"] = _rewrite(node["additionalProperties"])
    if isinstance(node.get("items"), dict):
        node["items"] = _rewrite(node["items"])
    return node


def _collapse_optional(node: dict[str, Any]) -> dict[str, Any]:
    """`X | None` is anyOf [X, null]: an optional X. int | str is Kubernetes' int-or-string."""
    variants = node.get("anyOf")
    if not variants:
        return node
    rest = {k: v for k, v in node.items() if k != "anyOf"}
    concrete = [v for v in variants if v.get("type") != "null"]
    if len(concrete) == 1:
        return {**concrete[0], **rest}
    if {v.get("type") for v in concrete} == {"integer", "string"} and rest.get("x-kubernetes-int-or-string"):
        # the form controller-gen writes for resource.Quantity
        return {"anyOf": [{"type": "integer"}, {"type": "string"}], **rest}
    raise ValueError(f"no structural form for a union of {concrete}")


def _rewrite_exclusive_bounds(node: dict[str, Any]) -> None:
    """JSON Schema's numeric exclusive bounds become OpenAPI v3.0's boolean flags."""
    for exclusive, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        value = node.get(exclusive)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            node[bound] = value
            node[exclusive] = True
