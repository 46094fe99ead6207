"""Writes docs/api.md, the API reference, from the CRDs the typed models generate.

    python -m ballast.api.reference docs/api.md          # write
    python -m ballast.api.reference --check docs/api.md  # exit 1 if the file is stale

The reference reads each kind's OpenAPI v3 schema as crd_for() builds it, so it documents
exactly what the API server enforces: descriptions, defaults, bounds, patterns and CEL rules.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ballast.api.crd import crd_for
from ballast.api.kinds import ALL_KINDS, KindInfo

HEADER = (
    "<!-- Generated from operator/ballast/api by `make crds`"
    " (python -m ballast.api.reference docs/api.md). Do not edit by hand. -->\n"
)


@dataclass(frozen=True)
class ObjectNode:
    """One object level of a kind's schema: spec, status, or an object nested in them."""

    kind: str
    path: str  # dotted, `[]` for the items of a list and `.<key>` for the values of a map
    schema: dict[str, Any]
    order: int  # position in a depth-first walk over every kind, for choosing where a shape is documented

    @property
    def depth(self) -> int:
        return self.path.count(".") + self.path.count("[]")

    @property
    def anchor(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", f"{self.kind}-{self.path}".lower()).strip("-")


def render_reference() -> str:
    """The whole of docs/api.md."""
    crds = {kind.kind: crd_for(kind) for kind in ALL_KINDS}
    nodes = list(_object_nodes(crds))
    homes = _documented_at(nodes)
    lines = [
        HEADER,
        "# Ballast API reference",
        "",
        "Generated from the typed models in `operator/ballast/api` (the same schemas as `crds/`) by",
        "`make crds`; edit the models' docstrings and fields, not this file.",
        "",
        *(f"- [{kind.kind}](#{kind.kind.lower()})" for kind in ALL_KINDS),
        "",
    ]
    for kind in ALL_KINDS:
        lines += _kind_section(kind, crds[kind.kind], [n for n in nodes if n.kind == kind.kind], homes)
    return "\n".join(lines).rstrip("\n") + "\n"


def _root_schema(crd: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def _object_nodes(crds: dict[str, dict[str, Any]]) -> Iterator[ObjectNode]:
    order = 0
    for kind, crd in crds.items():
        root = _root_schema(crd)
        for name in ("spec", "status"):
            for path, schema in _objects_under(name, root["properties"][name]):
                yield ObjectNode(kind, path, schema, order)
                order += 1


def _objects_under(path: str, schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every object with named fields at or below schema, depth first."""
    if "properties" in schema:
        yield path, schema
        for name, child in schema["properties"].items():
            yield from _objects_under(f"{path}.{name}", child)
    if isinstance(schema.get("items"), dict):
        yield from _objects_under(f"{path}[]", schema["items"])
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _objects_under(f"{path}.<key>", schema["additionalProperties"])


def _shape(schema: dict[str, Any]) -> str:
    """What makes two objects the same type: everything but the description of the field holding it."""
    return json.dumps({k: v for k, v in schema.items() if k not in ("description", "default")}, sort_keys=True)


def _documented_at(nodes: list[ObjectNode]) -> dict[str, ObjectNode]:
    """Shape to the one place its table is written: the shallowest, then the first.

    A TrainingRun spec inside a DriftPolicy's retrain template, or the conditions of every
    status, link there instead of repeating the table. Choosing the shallowest place keeps each
    shape's home outside every subtree that is itself replaced by a link.
    """
    homes: dict[str, ObjectNode] = {}
    for node in nodes:
        home = homes.get(_shape(node.schema))
        if home is None or (node.depth, node.order) < (home.depth, home.order):
            homes[_shape(node.schema)] = node
    return homes


def _kind_section(
    kind: KindInfo, crd: dict[str, Any], nodes: list[ObjectNode], homes: dict[str, ObjectNode]
) -> list[str]:
    version = crd["spec"]["versions"][0]
    root = _root_schema(crd)
    intro = root["description"]
    lines = [
        f"## {kind.kind}",
        "",
        _one_paragraph(intro),
        "",
        "| | |",
        "|---|---|",
        f"| apiVersion | `{crd['spec']['group']}/{version['name']}` |",
        f"| kind | `{kind.kind}` |",
        f"| scope | {crd['spec']['scope']} |",
        f"| plural | `{kind.plural}` |",
        f"| short names | {', '.join(f'`{name}`' for name in kind.short_names)} |",
        f"| categories | {', '.join(f'`{name}`' for name in crd['spec']['names']['categories'])} |",
        "",
        f"`kubectl get {kind.plural}` shows these columns (`-o wide` adds those marked wide):",
        "",
        "| Column | Type | JSONPath | Description |",
        "|---|---|---|---|",
    ]
    for column in version["additionalPrinterColumns"]:
        wide = " (wide)" if column.get("priority") else ""
        lines.append(
            _row(column["name"] + wide, column["type"], _code(column["jsonPath"]), column.get("description", ""))
        )
    lines.append("")
    for node in nodes:
        if homes[_shape(node.schema)] is node:
            lines += _object_table(node, homes)
    lines += _rules_section(kind, root)
    return lines


def _object_table(node: ObjectNode, homes: dict[str, ObjectNode]) -> list[str]:
    lines = [f'<a id="{node.anchor}"></a>', "", f"### `{node.path}`", ""]
    if node.schema.get("description"):
        lines += [_one_paragraph(node.schema["description"]), ""]
    lines += ["| Field | Type | Default | Required | Description |", "|---|---|---|---|---|"]
    required = set(node.schema.get("required", ()))
    for name, child in node.schema["properties"].items():
        lines.append(
            _row(
                _code(f"{node.path}.{name}"),
                _type(child, homes),
                _default(child),
                "yes" if name in required else "no",
                _describe(child, node, homes, f"{node.path}.{name}"),
            )
        )
    lines.append("")
    return lines


def _type(schema: dict[str, Any], homes: dict[str, ObjectNode]) -> str:
    """The field's type in words, with a link to the table of an object."""
    if "properties" in schema:
        return f"[object](#{homes[_shape(schema)].anchor})"
    if schema.get("x-kubernetes-int-or-string"):
        return "int or string"
    if schema.get("type") == "array":
        return f"list of {_type(schema.get('items', {}), homes)}"
    if isinstance(schema.get("additionalProperties"), dict):
        return f"map of string to {_type(schema['additionalProperties'], homes)}"
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return "object (free-form)" if schema.get("type") == "object" else "any"
    if schema.get("format"):
        return f"{schema.get('type', 'any')} ({schema['format']})"
    return str(schema.get("type", "any"))


def _describe(schema: dict[str, Any], parent: ObjectNode, homes: dict[str, ObjectNode], path: str) -> str:
    """The description, then the constraints on the field and on its items or values."""
    parts = [_one_paragraph(schema["description"])] if schema.get("description") else []
    constraints = _constraints(schema)
    for inner, label in (("items", "each item"), ("additionalProperties", "each value")):
        child = schema.get(inner)
        if isinstance(child, dict) and "properties" not in child and _constraints(child):
            constraints.append(f"{label}: " + ", ".join(_constraints(child)))
    if constraints:
        parts.append(_sentence("; ".join(constraints)))
    target = _object_of(schema)
    if target is not None:
        home = homes[_shape(target)]
        if home.kind != parent.kind or not _is_direct_child(home.path, path):
            parts.append(f"Fields: see [{home.kind} `{home.path}`](#{home.anchor}).")
    return "<br>".join(parts)


def _object_of(schema: dict[str, Any]) -> dict[str, Any] | None:
    """The object with named fields a field holds, directly or as its items or map values."""
    for candidate in (schema, schema.get("items"), schema.get("additionalProperties")):
        if isinstance(candidate, dict) and "properties" in candidate:
            return candidate
    return None


def _is_direct_child(home_path: str, field_path: str) -> bool:
    return home_path in (field_path, f"{field_path}[]", f"{field_path}.<key>")


def _constraints(schema: dict[str, Any]) -> list[str]:
    """What the API server checks on one value, as lowercase phrases."""
    found = []
    if "enum" in schema:
        found.append("one of " + ", ".join(_code(_literal(value)) for value in schema["enum"]))
    for key, exclusive_key, words in (
        ("minimum", "exclusiveMinimum", ("at least", "greater than")),
        ("maximum", "exclusiveMaximum", ("at most", "less than")),
    ):
        if key in schema:
            found.append(f"{words[1] if schema.get(exclusive_key) else words[0]} {_literal(schema[key])}")
    found += _size("length {}", schema.get("minLength"), schema.get("maxLength"))
    found += _size("{} items", schema.get("minItems"), schema.get("maxItems"))
    found += _size("{} entries", schema.get("minProperties"), schema.get("maxProperties"))
    if "pattern" in schema:
        found.append(f"pattern {_code(schema['pattern'])}")
    if schema.get("x-kubernetes-list-type") == "map":
        found.append("unique by " + ", ".join(_code(key) for key in schema.get("x-kubernetes-list-map-keys", ())))
    elif schema.get("x-kubernetes-list-type") == "set":
        found.append("items unique")
    return found


def _size(template: str, low: int | None, high: int | None) -> list[str]:
    if low is not None and high is not None:
        return [template.format(f"exactly {low}" if low == high else f"{low} to {high}")]
    if low is not None:
        return [template.format(f"at least {low}")]
    if high is not None:
        return [template.format(f"at most {high}")]
    return []


def _sentence(text: str) -> str:
    return text[0].upper() + text[1:] + "."


def _default(schema: dict[str, Any]) -> str:
    return _code(_literal(schema["default"])) if "default" in schema else ""


def _literal(value: Any) -> str:
    """A value as a manifest would spell it: strings bare unless empty, the rest as JSON."""
    if isinstance(value, str) and value:
        return value
    return json.dumps(value)


def _rules_section(kind: KindInfo, root: dict[str, Any]) -> list[str]:
    """Every CEL rule in the kind's schema, also those inside shapes documented elsewhere."""
    rules = []
    for name in ("spec", "status"):
        for path, schema in _every_node(name, root["properties"][name]):
            for rule in schema.get("x-kubernetes-validations", ()):
                rules.append(f"- {_code(path)}: {rule.get('message') or _code(rule['rule'])}")
    if not rules:
        return []
    return [
        "### Cross-field rules",
        "",
        f"The API server refuses a {kind.kind} that breaks one of these, with the message shown:",
        "",
        *rules,
        "",
    ]


def _every_node(path: str, schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, schema
    for name, child in (schema.get("properties") or {}).items():
        yield from _every_node(f"{path}.{name}", child)
    if isinstance(schema.get("items"), dict):
        yield from _every_node(f"{path}[]", schema["items"])
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _every_node(f"{path}.<key>", schema["additionalProperties"])


def _one_paragraph(text: str) -> str:
    """Docstrings wrap lines; a table cell or an intro wants them joined."""
    return " ".join(text.split())


def _code(text: str) -> str:
    """A code span, with a longer fence when the text itself holds backticks."""
    fence = "``" if "`" in text else "`"
    padding = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{padding}{text}{padding}{fence}"


def _row(*cells: str) -> str:
    # GitHub splits table cells on | before it parses code spans, so every | is escaped.
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def is_stale(path: Path) -> bool:
    return not path.is_file() or path.read_text() != render_reference()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--check", action="store_true", help="only report whether the file is stale")
    args = parser.parse_args(argv)
    if args.check:
        if is_stale(args.path):
            print(f"stale: {args.path} (run `make crds`)", file=sys.stderr)
            return 1
        return 0
    args.path.parent.mkdir(parents=True, exist_ok=True)
    args.path.write_text(render_reference())
    return 0


if __name__ == "__main__":
    sys.exit(main())
