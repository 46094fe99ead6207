"""Turns the typed models into CustomResourceDefinitions with structural OpenAPI v3 schemas.

pydantic emits JSON Schema 2020-12; the API server wants a structural OpenAPI v3.0 subset:
no $ref, no anyOf for optional fields, a type on every node, boolean exclusive bounds, and no
additionalProperties beside properties. Each rewrite below is one of those differences.
"""

from __future__ import annotations

from typing import Any

from ballast.api.kinds import CATEGORY, GROUP, VERSION, KindInfo

# kopf keeps its handler progress and diff base in status.kopf (not in annotations), so
# that the objects a user or Argo CD owns carry nothing but their own metadata.
KOPF_STATUS_FIELD = {
    "type": "object",
    "description": "Operator bookkeeping (handler progress); not part of the API.",
    "x-kubernetes-preserve-unknown-fields": True,
}

_DROPPED_KEYS = {"title", "$defs"}


def crd_for(kind: KindInfo) -> dict[str, Any]:
    """The CustomResourceDefinition manifest of one kind."""
    spec_schema = structural_schema(kind.spec_model.model_json_schema(by_alias=True, mode="validation"))
    status_schema = structural_schema(kind.status_model.model_json_schema(by_alias=True, mode="serialization"))
    status_schema["properties"]["kopf"] = KOPF_STATUS_FIELD
    status_schema.pop("required", None)
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
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": (kind.spec_model.__doc__ or "").strip() or None,
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec_schema,
                                "status": status_schema,
                            },
                        }
                    },
                }
            ],
        },
    }


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
