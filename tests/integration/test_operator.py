"""Every kind records each generation it reconciled: observedGeneration, Ready, Events."""

from __future__ import annotations

import json

import pytest

from tests.integration.test_api import EXAMPLES
from tests.support.kube import Kubectl, wait_for


def _ready(document: dict) -> dict | None:
    return next((c for c in document.get("status", {}).get("conditions", []) if c["type"] == "Ready"), None)


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_spec_change_bumps_observed_generation_and_ready_follows(
    kubectl: Kubectl, namespace: str, ballast_operator, kind: str
):
    k = kubectl.in_namespace(namespace)
    resource, name = f"{kind.lower()}.ballast.dev", EXAMPLES[kind]["metadata"]["name"]
    k.apply(EXAMPLES[kind])

    def observed(generation: int):
        document = k.get_json(resource, name)
        ready = _ready(document)
        return (
            document.get("status", {}).get("observedGeneration") == generation
            and ready
            and ready["observedGeneration"] == generation
            and document
        )

    wait_for(lambda: observed(1), timeout=30, message=f"{kind} observedGeneration 1")
    patch = (
        {"spec": {"versionHistoryLimit": 5}}
        if kind == "Dataset"
        else {"spec": {"serving": {"replicas": 2}}}
        if kind == "ModelVersion"
        else {"spec": {"seed": 7}}
        if kind == "TrainingRun"
        else {"spec": {"interval": "2m"}}
    )
    k.run("patch", resource, name, "--type=merge", "-p", json.dumps(patch))
    wait_for(lambda: observed(2), timeout=30, message=f"{kind} observedGeneration 2")

    events = k.get_json("events", "--field-selector", f"involvedObject.name={name},involvedObject.kind={kind}")
    assert events["items"], f"no Events for {kind} {name}"


def test_a_policy_for_a_model_with_nothing_in_production_says_so_and_waits(
    kubectl: Kubectl, namespace: str, ballast_operator
):
    k = kubectl.in_namespace(namespace)
    k.apply(EXAMPLES["DriftPolicy"])

    def waiting():
        document = k.get_json("driftpolicy", "credit-risk")
        conditions = {c["type"]: c for c in document.get("status", {}).get("conditions", [])}
        return conditions if "Drifting" in conditions else None

    conditions = wait_for(waiting, timeout=30, message="the policy's conditions")
    assert (conditions["Ready"]["status"], conditions["Ready"]["reason"]) == ("Unknown", "NoProductionVersion")
    assert conditions["Drifting"]["status"] == "Unknown"
    assert "no Production version" in conditions["Ready"]["message"]
    events = k.get_json("events", "--field-selector", "involvedObject.name=credit-risk,involvedObject.kind=DriftPolicy")
    assert "NoProductionVersion" in {event["reason"] for event in events["items"]}


def test_operator_exports_its_reconcile_counter(kubectl: Kubectl, namespace: str, ballast_operator):
    k = kubectl.in_namespace(namespace)
    k.apply(EXAMPLES["Dataset"])
    wait_for(
        lambda: 'ballast_reconciliations_total{kind="Dataset",result="changed"}' in ballast_operator.metrics(),
        timeout=30,
        message="reconcile counter",
    )
