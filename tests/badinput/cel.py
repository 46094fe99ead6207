"""An independent judge of the CRDs' CEL rules (x-kubernetes-validations), with cel-python.

The API server evaluates each rule with `self` bound to the node that carries it, after
defaulting, and only on objects that pass the structural schema; rules that read `oldSelf`
are transition rules and do not run on create. `rule_failures` does the same, so a generated
object's fate is known before the API server is asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import celpy
from celpy import celtypes

from tests.badinput.crd_schema import Place, is_free_form, is_int_or_string, is_map, places


@dataclass(frozen=True)
class RuleFailure:
    path: str
    """Where the rule sits in the object, as the API server names it (spec.schema.columns[1])."""
    message: str
    field_path: str = ""
    """The rule's fieldPath (`.interval`): the API server names that field in its answer."""

    @property
    def reported_path(self) -> str:
        """The field the API server's answer names: the rule's place, or the field it points to."""
        return self.path + self.field_path


def _is_sorted(values: celtypes.ListType) -> celtypes.BoolType:
    """Kubernetes' CEL list library: `<list>.isSorted()`."""
    return celtypes.BoolType(all(a <= b for a, b in zip(values, values[1:])))


KUBERNETES_FUNCTIONS = {"isSorted": _is_sorted}


# Made once, at import: creating an Environment raises the interpreter's recursion limit, which
# hypothesis rightly complains about when it happens inside a test.
ENVIRONMENT = celpy.Environment()


@cache
def _program(rule: str) -> celpy.Runner:
    return ENVIRONMENT.program(ENVIRONMENT.compile(rule), functions=KUBERNETES_FUNCTIONS)


def is_transition_rule(rule: dict) -> bool:
    return "oldSelf" in rule["rule"]


def json_to_cel(value: Any) -> Any:
    """Free-form JSON as CEL values; an integer beyond int64 is a uint or a double, as Go reads it."""
    if isinstance(value, dict):
        return celtypes.MapType({celtypes.StringType(key): json_to_cel(child) for key, child in value.items()})
    if isinstance(value, list):
        return celtypes.ListType([json_to_cel(item) for item in value])
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
        return celtypes.UintType(value) if 0 <= value < 2**64 else celtypes.DoubleType(value)
    return celpy.json_to_cel(value)


def to_cel(schema: dict, value: Any) -> Any:
    """The value with the CEL types the API server gives it: a `number` is a double even when
    the JSON holds 3, not 3.0."""
    if is_free_form(schema):
        return json_to_cel(value)
    if is_int_or_string(schema):
        return celtypes.StringType(value) if isinstance(value, str) else celtypes.IntType(value)
    kind = schema.get("type")
    if kind == "object":
        children = schema.get("properties") or {}
        return (
            celtypes.MapType(
                {
                    celtypes.StringType(name): to_cel(children.get(name) or schema["additionalProperties"], child)
                    for name, child in value.items()
                }
            )
            if children or is_map(schema)
            else json_to_cel(value)
        )
    if kind == "array":
        return celtypes.ListType([to_cel(schema["items"], item) for item in value])
    if kind == "number":
        return celtypes.DoubleType(float(value))
    if kind == "integer":
        return celtypes.IntType(value)
    if kind == "boolean":
        return celtypes.BoolType(value)
    return celtypes.StringType(value)


def rule_holds(rule: dict, place: Place) -> bool:
    result = _program(rule["rule"]).evaluate({"self": to_cel(place.schema, place.value)})
    if not isinstance(result, celtypes.BoolType):
        raise AssertionError(f"CEL rule {rule['rule']!r} at {place.path} did not give a boolean: {result!r}")
    return bool(result)


def rule_failures(schema: dict, value: Any) -> list[RuleFailure]:
    """Every create-time CEL rule the (defaulted, schema-valid) value breaks, outermost first."""
    return [
        RuleFailure(place.path, rule["message"], rule.get("fieldPath", ""))
        for place in places(schema, value)
        for rule in place.schema.get("x-kubernetes-validations") or ()
        if not is_transition_rule(rule) and not rule_holds(rule, place)
    ]
