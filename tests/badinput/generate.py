"""Hypothesis strategies that build custom resources from Ballast's CRD schemas.

A small generator for the OpenAPI v3 subset the CRDs use (see SUPPORTED_KEYWORDS):
objects with required and optional properties, maps (additionalProperties, maxProperties),
arrays (minItems, maxItems, list-type map keys kept unique), strings (enum, pattern,
minLength, maxLength), numbers and integers within their bounds, booleans, int-or-string
quantities and free-form JSON. Everything it draws passes the structural schema; whether
the CEL rules hold as well is for tests.badinput.cel to say.

hypothesis-jsonschema was the obvious alternative; its 0.23.1 fails with the current
hypothesis (`'many' object has no attribute 'more'`) and knows none of Kubernetes' own
keywords (list-map keys, int-or-string, preserve-unknown-fields, pruning), so it is not used.

Strings without a pattern, and strings whose pattern admits them, are often drawn from a
small vocabulary: the string literals of the CRD's CEL rules plus a few short names. Fields
that CEL compares with each other (a target and the column names, a template's model and the
policy's model, resource names) then meet often enough for both outcomes of every rule to
turn up.
"""

from __future__ import annotations

import json
import re
from functools import cache

from hypothesis import strategies as st

from tests.badinput.crd_schema import is_free_form, is_int_or_string, is_map, schema_nodes, spec_schema

SHORT_NAMES = ("a", "b", "c")
LARGEST_INT64 = 2**63 - 1
# Free-form integers stay within int64: beyond it the API server keeps a float64, so
# 2**63 comes back as 9223372036854776000 (an upstream rounding this suite does not test).
SMALLEST_INT64 = -(2**63)
CEL_STRING_LITERAL = re.compile(r"'([^'\\]*)'")
# The one-of idiom: `[has(self.a), has(self.b), ...].filter(x, x).size() == 1`.
CEL_EXACTLY_ONE_OF = re.compile(r"^\[(has\(self\.\w+\)(, )?)+\]\.filter\(x, x\)\.size\(\) == 1$")
# Kubernetes' resource.Quantity, the form `int-or-string` fields carry in Ballast's CRDs.
QUANTITY = r"[0-9]{1,4}(\.[0-9]{1,3})?(m|Ki|Mi|Gi|k|M|G)?"


@cache
def vocabulary(kind: str) -> tuple[str, ...]:
    literals = {
        literal
        for _, node in schema_nodes(spec_schema(kind))
        for rule in node.get("x-kubernetes-validations") or ()
        for literal in CEL_STRING_LITERAL.findall(rule["rule"])
    }
    return tuple(sorted(literals | set(SHORT_NAMES)))


def json_values(max_leaves: int = 6) -> st.SearchStrategy:
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(SMALLEST_INT64, LARGEST_INT64)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=8)
    )
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
        max_leaves=max_leaves,
    )


def fits_string(node: dict, text: str) -> bool:
    if not node.get("minLength", 0) <= len(text) <= node.get("maxLength", len(text)):
        return False
    # Go's regexp and Python's re agree on these patterns for text without a newline.
    return "pattern" not in node or ("\n" not in text and re.search(node["pattern"], text) is not None)


def strings(node: dict, words: tuple[str, ...]) -> st.SearchStrategy[str]:
    if "enum" in node:
        return st.sampled_from(node["enum"])
    low, high = node.get("minLength", 0), node.get("maxLength", 64)
    if "pattern" in node:
        drawn = st.from_regex(node["pattern"], fullmatch=True).filter(lambda s: low <= len(s) <= high)
    else:
        drawn = st.text(min_size=low, max_size=min(high, low + 24))
    known = [word for word in words if fits_string(node, word)]
    return st.one_of(st.sampled_from(known), drawn) if known else drawn


def numbers(node: dict) -> st.SearchStrategy:
    if node["type"] == "integer":
        low = node.get("minimum", -LARGEST_INT64) + (1 if node.get("exclusiveMinimum") else 0)
        high = node.get("maximum", LARGEST_INT64) - (1 if node.get("exclusiveMaximum") else 0)
        # the bounds themselves often: they are where off-by-one mistakes live, and equal
        # values in a list are what rules against repeats are about
        return st.one_of(st.sampled_from(sorted({int(low), int(high)})), st.integers(int(low), int(high)))
    floats = st.floats(
        min_value=node.get("minimum"),
        max_value=node.get("maximum"),
        exclude_min=bool(node.get("exclusiveMinimum")),
        exclude_max=bool(node.get("exclusiveMaximum")),
        allow_nan=False,
        allow_infinity=False,
    )
    # A JSON number may be written without a fraction; the API server must take 1 for 1.0.
    whole = st.integers(-1000, 1000).filter(lambda n: _within(node, n))
    return st.one_of(floats, whole)


def _within(node: dict, number: float) -> bool:
    if "minimum" in node and (number < node["minimum"] or (node.get("exclusiveMinimum") and number == node["minimum"])):
        return False
    return "maximum" not in node or not (
        number > node["maximum"] or (node.get("exclusiveMaximum") and number == node["maximum"])
    )


def values(node: dict, words: tuple[str, ...], through: tuple[str, ...] = ()) -> st.SearchStrategy:
    """Any value the structural schema `node` accepts. `through` names a place below node
    (property names, "[]" for an item) that must be there: a rule deep inside an optional
    part is then always reached."""
    if is_int_or_string(node):
        return st.one_of(st.integers(0, 10**6), st.from_regex(QUANTITY, fullmatch=True))
    if is_free_form(node):
        return (
            st.dictionaries(st.text(max_size=8), json_values(), max_size=4)
            if node.get("type") == "object"
            else json_values()
        )
    kind = node.get("type")
    if kind == "object":
        return objects(node, words, through)
    if kind == "array":
        return arrays(node, words, through)
    if kind in ("integer", "number"):
        return numbers(node)
    if kind == "boolean":
        return st.booleans()
    if kind == "string":
        return strings(node, words)
    raise ValueError(f"no generator for the schema {json.dumps(node)[:200]}")


def objects(node: dict, words: tuple[str, ...], through: tuple[str, ...] = ()) -> st.SearchStrategy[dict]:
    if is_map(node):
        keys = strings({"maxLength": 32}, words)
        return st.dictionaries(
            keys, values(node["additionalProperties"], words), max_size=min(node.get("maxProperties", 3), 3)
        )
    properties = node.get("properties") or {}
    required = set(node.get("required") or ()) | set(through[:1])

    def child(name: str) -> st.SearchStrategy:
        return values(properties[name], words, through[1:] if through[:1] == (name,) else ())

    def with_required(chosen: set[str], left_out: set[str] = frozenset()) -> st.SearchStrategy[dict]:
        return st.fixed_dictionaries(
            {name: child(name) for name in properties if name in chosen},
            optional={name: child(name) for name in properties if name not in chosen | left_out},
        )

    alternatives = exactly_one_of(node)
    if not alternatives:
        return with_required(required)
    # A one-of rule is honoured most of the time and broken now and then: with four optional
    # alternatives, drawing each on its own would break it three times out of four.
    honoured = st.sampled_from(sorted(alternatives)).flatmap(
        lambda one: with_required(required | {one}, alternatives - {one})
    )
    return st.one_of(honoured, honoured, honoured, with_required(required))


def exactly_one_of(node: dict) -> set[str]:
    """The properties of a CEL one-of rule on node (set exactly one of a, b, c), if it has one."""
    for rule in node.get("x-kubernetes-validations") or ():
        if CEL_EXACTLY_ONE_OF.match(rule["rule"]):
            return set(re.findall(r"has\(self\.(\w+)\)", rule["rule"]))
    return set()


def arrays(node: dict, words: tuple[str, ...], through: tuple[str, ...] = ()) -> st.SearchStrategy[list]:
    low = max(node.get("minItems", 0), 1 if through[:1] == ("[]",) else 0)
    high = min(node.get("maxItems", low + 3), low + 3)
    keys = node.get("x-kubernetes-list-map-keys") if node.get("x-kubernetes-list-type") == "map" else None
    unique_by = (lambda item: tuple(json.dumps(item.get(key)) for key in keys)) if keys else None
    return st.lists(values(node["items"], words, through[1:]), min_size=low, max_size=high, unique_by=unique_by)


def specs(kind: str, through: str = "spec") -> st.SearchStrategy[dict]:
    """Specs of kind that pass its structural schema (the CEL rules may or may not hold), with
    the place `through` (a schema path such as spec.schema.columns[]) always there."""
    steps = tuple(re.findall(r"[^.\[\]]+|\[\]", through.removeprefix("spec")))
    return values(spec_schema(kind), vocabulary(kind), steps)


def resource(kind: str, spec: dict, name: str) -> dict:
    return {"apiVersion": "ballast.dev/v1alpha1", "kind": kind, "metadata": {"name": name}, "spec": spec}
