"""The operator acknowledges every generation of every kind: observedGeneration, Ready, Events."""

from __future__ import annotations

import json

import pytest

from tests.integration.test_api import EXAMPLES
from tests.support.kube import Kubectl, wait_for


def _ready(document: dict) -> dict | None:
    return next((c for c in document.get("status", {}).get("conditions", []) if c["type"] == "Ready"), None)


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_spec_change_bumps_observed_generation_and_sets_ready_unknown(
        kubectl: Kubectl, namespace: str, ballast_operator, kind: str):
    k = kubectl.in_namespace(namespace)
    resource, name = f"{kind.lower()}.ballast.dev", EXAMPLES[kind]["metadata"]["name"]
    k.apply(EXAMPLES[kind])

    def observed(generation: int):
        document = k.get_json(resource, name)
        ready = _ready(document)
        return (document.get("status", {}).get("observedGeneration") == generation
                and ready and ready["observedGeneration"] == generation and document)

    first = wait_for(lambda: observed(1), timeout=30, message=f"{kind} observedGeneration 1")
    ready = _ready(first)
    assert (ready["status"], ready["reason"]) == ("Unknown", "Reconciling")

    patch = ({"spec": {"format": "parquet"}} if kind == "Dataset"
             else {"spec": {"serving": {"replicas": 2}}} if kind == "ModelVersion"
             else {"spec": {"seed": 7}} if kind == "TrainingRun"
             else {"spec": {"interval": "2m"}})
    k.run("patch", resource, name, "--type=merge", "-p", json.dumps(patch))
    second = wait_for(lambda: observed(2), timeout=30, message=f"{kind} observedGeneration 2")
    # Ready stayed Unknown, so its transition time must not move
    assert _ready(second)["lastTransitionTime"] == ready["lastTransitionTime"]

    events = k.get_json("events", "--field-selector", f"involvedObject.name={name},involvedObject.kind={kind}")
    messages = {event["message"] for event in events["items"] if event["reason"] == "Reconciling"}
    assert {f"{kind} generation 1 accepted", f"{kind} generation 2 accepted"} <= messages


def test_operator_exports_its_reconcile_counter(kubectl: Kubectl, namespace: str, ballast_operator):
    k = kubectl.in_namespace(namespace)
    k.apply(EXAMPLES["Dataset"])
    wait_for(lambda: 'ballast_reconciliations_total{kind="Dataset",result="accepted"}' in ballast_operator.metrics(),
             timeout=30, message="reconcile counter")
