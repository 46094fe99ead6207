"""Generated and mutated custom resources against the real API server (server-side dry run).

The verdict of every generated object is known before it is sent: the generator only draws
objects that pass the structural schema, and tests.badinput.cel judges the CEL rules. A
valid object must be accepted and stored exactly as defaulting predicts; every other one
must be refused with a message that names the field (and, for a CEL rule, says the rule's
message). Dry run keeps the API server's full admission and validation while storing
nothing, so the bulk of the cases cost milliseconds each.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, Phase, event, find, given, settings
from hypothesis import strategies as st

from tests.badinput.cel import is_transition_rule, rule_failures
from tests.badinput.conftest import Answer, Submitter
from tests.badinput.crd_schema import KINDS, is_free_form, places, schema_nodes, spec_schema, with_defaults
from tests.badinput.generate import resource, specs
from tests.badinput.mutate import UNKNOWN_FIELD, mutations

CLUSTER_CASES = settings(
    deadline=None,
    # one namespace serves every example of a test: dry run stores nothing in it
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
GENERATED_PER_KIND = 30
MUTATED_PER_KIND = 40
LENIENT_PER_KIND = 8


def cel_valid(kind: str):
    schema = spec_schema(kind)
    return specs(kind).filter(lambda spec: not rule_failures(schema, with_defaults(schema, spec)))


def same_json(stored, sent) -> bool:
    """Equal as JSON values. A float is the same number as the integer the API server writes
    for it: Go prints the float 6.256234612906337e16 as 62562346129063370, which Python reads
    as an int that is not == the float, though it denotes the same float64."""
    if isinstance(stored, bool) or isinstance(sent, bool):
        return stored is sent
    if isinstance(stored, (int, float)) and isinstance(sent, (int, float)):
        both_int = isinstance(stored, int) and isinstance(sent, int)
        return stored == sent if both_int else float(stored) == float(sent)
    if isinstance(stored, dict) and isinstance(sent, dict):
        return stored.keys() == sent.keys() and all(same_json(stored[key], sent[key]) for key in stored)
    if isinstance(stored, list) and isinstance(sent, list):
        return len(stored) == len(sent) and all(same_json(a, b) for a, b in zip(stored, sent))
    return type(stored) is type(sent) and stored == sent


def assert_verdict(kind: str, spec: dict, answer: Answer) -> None:
    """Accepted and stored as defaulting predicts when every CEL rule holds; else refused, naming
    each broken rule where it sits."""
    schema = spec_schema(kind)
    expected = with_defaults(schema, spec)
    broken = rule_failures(schema, expected)
    if not broken:
        assert answer.status == 201, f"a valid {kind} was refused: {answer.status} {answer.message}"
        assert same_json(answer.body["spec"], expected), (answer.body["spec"], expected)
        return
    assert answer.status == 422, f"{kind} breaking {broken} got {answer.status} {answer.message}"
    for failure in broken:
        assert f"{failure.reported_path}: Invalid value" in answer.message and failure.message in answer.message, (
            f"{failure.reported_path}: {failure.message!r} not in {answer.message!r}"
        )


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_generated_objects_get_the_verdict_the_schema_and_cel_rules_give(submit: Submitter, kind: str):
    @settings(CLUSTER_CASES, max_examples=GENERATED_PER_KIND)
    @given(spec=specs(kind))
    def check(spec: dict) -> None:
        schema = spec_schema(kind)
        event("refused by a CEL rule" if rule_failures(schema, with_defaults(schema, spec)) else "valid")
        assert_verdict(kind, spec, submit.create(resource(kind, spec, "generated")))

    check()


def _cel_rules() -> list[tuple[str, str, dict]]:
    return [
        (kind, path, rule)
        for kind in sorted(KINDS)
        for path, node in schema_nodes(spec_schema(kind))
        for rule in node.get("x-kubernetes-validations") or ()
        if not is_transition_rule(rule)
    ]


@pytest.mark.parametrize(
    "kind, path, rule", _cel_rules(), ids=[f"{kind}:{path}:{rule['message'][:40]}" for kind, path, rule in _cel_rules()]
)
def test_every_cel_rule_refuses_an_object_that_breaks_it(submit: Submitter, kind: str, path: str, rule: dict):
    schema = spec_schema(kind)

    def breaks_this_rule(spec: dict) -> bool:
        return any(
            re.sub(r"\[\d+\]", "[]", failure.path) == path and failure.message == rule["message"]
            for failure in rule_failures(schema, with_defaults(schema, spec))
        )

    # the rule's place is always generated, so a breaking object turns up within a few dozen
    # draws; no shrinking: any breaking object will do
    spec = find(
        specs(kind, through=path),
        breaks_this_rule,
        settings=settings(max_examples=500, database=None, deadline=None, phases=[Phase.generate]),
    )
    answer = submit.create(resource(kind, spec, "breaks-a-rule"))
    assert answer.status == 422, answer
    assert rule["message"] in answer.message
    assert_verdict(kind, spec, answer)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_mutated_objects_are_refused_with_a_message_naming_the_field(submit: Submitter, kind: str):
    schema = spec_schema(kind)

    @settings(CLUSTER_CASES, max_examples=MUTATED_PER_KIND)
    @given(spec=cel_valid(kind), data=st.data())
    def check(spec: dict, data) -> None:
        candidates = mutations(schema, spec)
        what = data.draw(st.sampled_from(sorted({m.what for m in candidates})), label="mutation")
        mutation = data.draw(st.sampled_from([m for m in candidates if m.what == what]), label="where")
        event(f"{kind}: {what}")
        answer = submit.create(resource(kind, mutation.spec, "mutated"))
        if mutation.status is None:  # pruned by the API server: whatever is left is judged as usual
            assert_verdict(kind, mutation.spec, answer)
            return
        assert answer.status == mutation.status, f"{mutation.describe()}: {answer.status} {answer.message}"
        assert mutation.names in answer.message, f"{mutation.describe()}: {answer.message!r}"

    check()


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_without_strict_validation_an_unknown_field_is_dropped_not_stored(submit: Submitter, kind: str):
    schema = spec_schema(kind)

    @settings(CLUSTER_CASES, max_examples=LENIENT_PER_KIND)
    @given(spec=cel_valid(kind), data=st.data())
    def check(spec: dict, data) -> None:
        objects = [
            place
            for place in places(schema, spec)
            if isinstance(place.value, dict) and "properties" in place.schema and not is_free_form(place.schema)
        ]
        place = data.draw(st.sampled_from(objects))
        place.value[UNKNOWN_FIELD] = "typo"  # places() hands out the spec's own dicts
        answer = submit.create(resource(kind, spec, "lenient"), strict=False)
        del place.value[UNKNOWN_FIELD]
        assert answer.status == 201, answer.message
        assert same_json(answer.body["spec"], with_defaults(schema, spec)), answer.body["spec"]

    check()
