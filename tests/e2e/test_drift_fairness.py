"""Fairness and error rates by class on the real local cluster: the model never changes, the
population it serves does (tests/support/group_world.py).

- Traffic that becomes unfair to group 1 fires the fairness check (demographic parity, from the
  server's counts by group) while training-like traffic did not; the model's audit trail records
  the firing and the retraining it started.
- A class whose false negatives rise fires errorRates while the accuracy check, in the same
  evaluation, still finds no drift.
"""

from __future__ import annotations

import json

from tests.support import group_world as world
from tests.support.ballast_objects import condition, run_ballast_on_store, wait_for_condition, wait_for_stage
from tests.support.kube import Kubectl, wait_for
from tests.support.traffic import PooledTraffic

POLICY = f"{world.MODEL}-drift"


def _serve(k: Kubectl) -> str:
    k.apply(world.dataset(world.rows(600, seed=1)))
    wait_for_condition(k, "dataset", world.MODEL, "Ready")
    k.apply(world.training_run())
    run = wait_for_condition(k, "trainingrun", "initial", "Succeeded")
    assert condition(run, "Succeeded")["status"] == "True", run["status"]
    version = run["status"]["modelVersion"]
    wait_for_stage(k, version, "Production", timeout=120)
    return version


def _traffic(k: Kubectl, world_name: str) -> PooledTraffic:
    pools = {name: world.rows(3000, world=name, seed=11) for name in ("training", "unfair", "missed")}
    return PooledTraffic(k, world.MODEL, world.FEATURES, world.LABEL, pools, world_name, batch=10, pause=0.02)


def _check(status: dict, name: str) -> dict | None:
    return next((c for c in status.get("checks") or [] if c["name"] == name), None)


def _status_where(k: Kubectl, name: str, verdict: str, timeout: float) -> dict:
    def found():
        status = k.get_json("driftpolicy", POLICY).get("status") or {}
        check = _check(status, name)
        return status if check and check["verdict"] == verdict else None

    try:
        return wait_for(found, timeout=timeout, interval=0.5, message=f"{name} {verdict}")
    except AssertionError as error:
        raise AssertionError(f"{error}; status: {k.get_json('driftpolicy', POLICY).get('status')}") from None


def test_traffic_unfair_to_one_group_fires_the_fairness_check(kubectl: Kubectl, namespace: str, ballast_operator):
    k = kubectl.in_namespace(namespace)
    _serve(k)
    # new labelled rows land as the Dataset's next version: a firing retrains on them at once
    k.apply(world.dataset(world.rows(600, seed=2)))
    retrain = {"type": "retrain", "retrain": {"template": {"spec": world.training_spec()}}}
    # 600 rows: a group of ~300 has a positive rate within +-0.06 of its own (two standard errors),
    # so training-like traffic stays below the limit (training's ~0.05 plus 0.1)
    k.apply(world.policy({"fairness": {"sensitiveFeature": "g"}}, min_samples=600, action=retrain))
    with _traffic(k, "training") as traffic:
        calm = _status_where(k, "fairness", "NoDrift", timeout=90)
        assert not calm.get("firings"), calm
        traffic.world = "unfair"
        drifting = _status_where(k, "fairness", "Drift", timeout=90)
    fairness = _check(drifting, "fairness")
    assert fairness["score"] > fairness["threshold"], fairness
    assert "demographic parity difference" in fairness["message"], fairness
    policy = k.get_json("driftpolicy", POLICY)
    assert condition(policy, "Drifting")["reason"] == "Fairness", policy["status"]["conditions"]
    assert "fairness" in policy["status"]["firings"][0]["reason"]
    assert not traffic.failures[:1], traffic.failures[:3]

    # the model's audit trail holds the firing, with the check's numbers, and the retraining
    def audited() -> dict | None:
        shown = run_ballast_on_store(k.kubeconfig, "audit", world.MODEL, "-n", k.namespace, "-o", "json")
        assert shown.returncode == 0, shown.stderr + shown.stdout
        entries = {entry["reason"]: entry for entry in json.loads(shown.stdout)["items"]}
        return entries if {"DriftDetected", "RetrainStarted"} <= set(entries) else None

    entries = wait_for(audited, timeout=60, interval=1, message="the firing and the retraining in the audit trail")
    assert entries["DriftDetected"]["kind"] == "DriftPolicy", entries["DriftDetected"]
    fired = entries["DriftDetected"]["message"]
    assert "fairness: " in fired and "demographic parity difference" in fired, fired
    assert "created TrainingRun" in entries["RetrainStarted"]["message"], entries["RetrainStarted"]


def test_rising_false_negatives_fire_error_rates_while_accuracy_holds(
    kubectl: Kubectl, namespace: str, ballast_operator
):
    k = kubectl.in_namespace(namespace)
    _serve(k)
    k.apply(world.policy({"errorRates": {}, "accuracy": {"minLabels": 100, "maxDrop": 0.1}}, min_samples=300))
    with _traffic(k, "missed") as traffic:
        drifting = _status_where(k, "errorRates", "Drift", timeout=120)
    accuracy, rates = _check(drifting, "accuracy"), _check(drifting, "errorRates")
    assert accuracy["verdict"] == "NoDrift" and accuracy["score"] >= accuracy["threshold"], accuracy
    assert "false negative rate of '1'" in rates["message"], rates
    assert condition(k.get_json("driftpolicy", POLICY), "Drifting")["reason"] == "ErrorRates"
    assert not traffic.failures[:1], traffic.failures[:3]
