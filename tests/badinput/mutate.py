"""Mutations of a valid spec, each with what the API server must answer.

Every mutation breaks one thing at one place: a value of the wrong JSON type, an unknown
field, a number, string, list or map beyond its bounds, a value outside its enum or its
pattern, a required field removed. A null is special: the API server prunes the nulls of
fields that are not nullable before it validates, so a null for a required field is
"Required value" and a null anywhere else leaves an object that may well be valid; for that
case the mutation carries no refusal and the caller asks the CEL oracle.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass

from tests.badinput.crd_schema import Place, is_free_form, is_int_or_string, is_map, places

UNKNOWN_FIELD = "notInTheSchema"
# Strings for "breaks the pattern": the first one the pattern refuses is used.
PATTERN_BREAKERS = ("", "-", "UPPER case", "../..", "a b", "a\tb", "x")
WRONG_TYPE_VALUES = {"string": 7, "integer": "7", "number": "0.5", "boolean": "true", "object": "x", "array": "x"}


@dataclass(frozen=True)
class Mutation:
    what: str
    path: str
    spec: dict
    status: int | None
    """The HTTP status of the refusal; None when the API server prunes the change (a null)."""
    names: str
    """What the refusal's message must contain: the field, as the API server writes it."""

    def describe(self) -> str:
        return f"{self.what} at {self.path}"


def _steps(path: str) -> list[str | int]:
    """spec.schema.columns[1].name -> ['schema', 'columns', 1, 'name'] (the path of the value)."""
    steps: list[str | int] = []
    for token in re.findall(r"\.([^.\[]+)|\[(\d+)\]", path.removeprefix("spec")):
        steps.append(token[0] if token[0] else int(token[1]))
    return steps


def _replace(spec: dict, place: Place, value) -> dict:
    spec = copy.deepcopy(spec)
    if place.parent is None:
        return value
    container = spec
    for step in _steps(place.path)[:-1]:
        container = container[step]
    container[place.key] = value
    return spec


def _refusal(what: str, place: Place, spec: dict, status: int = 422) -> Mutation:
    return Mutation(what, place.path, spec, status, f"{place.path}:")


def mutations_at(place: Place, spec: dict) -> list[Mutation]:
    schema, value = place.schema, place.value
    found: list[Mutation] = []
    kind = "int-or-string" if is_int_or_string(schema) else schema.get("type")
    wrong = True if kind == "int-or-string" else WRONG_TYPE_VALUES.get(kind)
    if wrong is not None:
        found.append(_refusal("wrong type", place, _replace(spec, place, wrong)))
    if kind in ("integer", "number"):
        step = 1 if kind == "integer" else 0.5
        if "maximum" in schema:
            beyond = schema["maximum"] if schema.get("exclusiveMaximum") else schema["maximum"] + step
            found.append(_refusal("above maximum", place, _replace(spec, place, beyond)))
        if "minimum" in schema:
            below = schema["minimum"] if schema.get("exclusiveMinimum") else schema["minimum"] - step
            found.append(_refusal("below minimum", place, _replace(spec, place, below)))
    if kind == "string":
        if "enum" in schema:
            found.append(_refusal("outside the enum", place, _replace(spec, place, "NotAnAllowedValue")))
        if "maxLength" in schema:
            found.append(_refusal("too long", place, _replace(spec, place, "x" * (schema["maxLength"] + 1))))
        if schema.get("minLength", 0) > 0:
            found.append(_refusal("too short", place, _replace(spec, place, "")))
        if "pattern" in schema:
            breaker = next((text for text in PATTERN_BREAKERS if re.search(schema["pattern"], text) is None), None)
            if breaker is not None:
                found.append(_refusal("breaks the pattern", place, _replace(spec, place, breaker)))
    if kind == "array" and isinstance(value, list):
        if "maxItems" in schema and value:
            longer = value + [copy.deepcopy(value[-1])] * (schema["maxItems"] + 1 - len(value))
            found.append(_refusal("too many items", place, _replace(spec, place, longer)))
        if schema.get("minItems", 0) > 0:
            found.append(_refusal("too few items", place, _replace(spec, place, [])))
    if kind == "object" and isinstance(value, dict):
        found += _object_mutations(place, spec)
    return found


def _object_mutations(place: Place, spec: dict) -> list[Mutation]:
    schema, value = place.schema, place.value
    found: list[Mutation] = []
    if is_map(schema):
        if "maxProperties" in schema and value:
            sample = next(iter(value.values()))
            wider = {**value, **{f"k{index}": copy.deepcopy(sample) for index in range(schema["maxProperties"] + 1)}}
            found.append(_refusal("too many entries", place, _replace(spec, place, wider)))
        return found
    if is_free_form(schema):
        return found
    properties = schema.get("properties") or {}
    found.append(
        Mutation(
            "unknown field",
            place.path,
            _replace(spec, place, {**value, UNKNOWN_FIELD: 1}),
            400,
            f'unknown field "{place.path}.{UNKNOWN_FIELD}"',
        )
    )
    for name in schema.get("required") or ():
        if name in value and "default" not in properties[name]:
            without = {key: child for key, child in value.items() if key != name}
            found.append(
                Mutation(
                    "required field removed",
                    f"{place.path}.{name}",
                    _replace(spec, place, without),
                    422,
                    f"{place.path}.{name}: Required value",
                )
            )
            found.append(
                Mutation(
                    "required field null",
                    f"{place.path}.{name}",
                    _replace(spec, place, {**value, name: None}),
                    422,
                    f"{place.path}.{name}: Required value",
                )
            )
    for name in value:
        if name in properties and name not in (schema.get("required") or ()):
            found.append(
                Mutation(
                    "optional field null",
                    f"{place.path}.{name}",
                    _replace(spec, place, {**value, name: None}),
                    None,
                    "",
                )
            )
    return found


def mutations(schema: dict, spec: dict) -> list[Mutation]:
    """Every mutation of spec this module knows, at every place."""
    return [mutation for place in places(schema, spec) for mutation in mutations_at(place, spec)]
