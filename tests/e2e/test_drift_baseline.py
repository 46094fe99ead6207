"""The reference after a retraining, on the real local cluster and real data (breast cancer,
tests/support/tumours.py): the world moves from small tumours to large ones, the Dataset's next
version holds the old and the new rows together, the policy fires, the retrained model beats the
champion and is promoted. Judged against a production baseline, the policy then gathers the new
version's traffic and calms (no second firing, NoDrift); a policy on the same model judging
against the training data, which mixes both worlds, keeps reporting drift on the same traffic.

Run it alone to watch it: `.venv/bin/pytest tests/e2e/test_drift_baseline.py -s`.
"""

from __future__ import annotations

import time

from tests.support import tumours
from tests.support.ballast_objects import (
    condition,
    policy_evaluations,
    serve_first_version,
    wait_for_condition,
    wait_for_stage,
)
from tests.support.kube import Kubectl, wait_for
from tests.support.traffic import PooledTraffic

CANARY = {"strategy": "Canary", "steps": [50], "analysisInterval": "8s"}
POLICY, TRAINING_POLICY = f"{tumours.MODEL}-drift", f"{tumours.MODEL}-drift-training"
COOLDOWN_SECONDS = 20
CHECKS = {"accuracy": {"minLabels": 100, "maxDrop": 0.1}}


def _policy(name: str, reference: dict, action: dict) -> dict:
    # a short cooldown: once the retrained version is in Production, drift could fire again at once
    return tumours.drift_policy(name, reference, CHECKS, action, cooldown=f"{COOLDOWN_SECONDS}s")


def _status(k: Kubectl, name: str = POLICY) -> dict:
    return k.get_json("driftpolicy", name).get("status") or {}


def _baseline_recorded(k: Kubectl, version: str, timeout: float) -> dict:
    def recorded():
        baseline = _status(k).get("baseline") or {}
        return baseline if baseline.get("modelVersion") == version and baseline.get("recordedAt") else None

    try:
        return wait_for(recorded, timeout=timeout, interval=0.5, message=f"a baseline of {version}")
    except AssertionError as error:
        raise AssertionError(f"{error}; the policy's status: {_status(k)}") from None


def test_after_a_retraining_on_both_worlds_the_production_baseline_calms_where_the_training_reference_drifts(
    kubectl: Kubectl, namespace: str, ballast_operator
):
    k = kubectl.in_namespace(namespace)
    run = {"apiVersion": "ballast.dev/v1alpha1", "kind": "TrainingRun", "metadata": {"name": "initial"}}
    champion = serve_first_version(
        k, tumours.dataset(tumours.records(tumours.small())), run | {"spec": tumours.training_spec()}
    )

    baseline = {"source": "productionBaseline", "baseline": {"period": "15s", "minSamples": 150}}
    retrain = {
        "type": "retrain",
        "retrain": {"promotion": "auto", "maxPerDay": 3, "template": {"spec": tumours.training_spec(CANARY)}},
    }
    k.apply(_policy(POLICY, baseline, retrain))
    k.apply(_policy(TRAINING_POLICY, {"source": "training"}, {"type": "notify"}))

    pools = {"small": tumours.records(tumours.small()), "large": tumours.records(tumours.large())}
    traffic = PooledTraffic(k, tumours.MODEL, tumours.FEATURES, tumours.LABEL, pools, "small", pause=0.02)
    with traffic:
        collecting = wait_for(
            lambda: condition(k.get_json("driftpolicy", POLICY), "Drifting").get("reason") == "CollectingBaseline",
            timeout=60,
            interval=0.5,
            message="the policy gathers the first version's baseline",
        )
        assert collecting
        first = _baseline_recorded(k, champion, timeout=90)
        assert first["rows"] >= 150 and first["distributions"], first

        # The world moves to large tumours; the data pipeline lands old and new rows together.
        traffic.world = "large"
        k.apply(tumours.dataset(tumours.records(tumours.frame())))
        firing = wait_for(
            lambda: next((f for f in _status(k).get("firings") or [] if f.get("trainingRun")), None),
            timeout=90,
            interval=0.5,
            message="the policy fires and retrains",
        )
        assert firing["modelVersion"] == champion
        run = wait_for_condition(k, "trainingrun", firing["trainingRun"], "Succeeded")
        assert condition(run, "Succeeded")["status"] == "True", run["status"]
        gate = next(g for g in run["status"]["gates"] if g["name"] == "mustBeatChampion")
        assert gate["passed"], gate
        challenger = run["status"]["modelVersion"]
        wait_for_stage(k, challenger, "Production", timeout=180)
        wait_for(
            lambda: _status(k)["firings"][0].get("outcome") == "Promoted",
            timeout=30,
            message="the policy records the promotion",
        )

        recorded = _baseline_recorded(k, challenger, timeout=90)
        after = policy_evaluations(k, POLICY, challenger, count=4, timeout=90, after=recorded["recordedAt"])
        # judged for longer than the cooldown: a drifting window would have fired again by now
        time.sleep(COOLDOWN_SECONDS)
        after += policy_evaluations(k, POLICY, challenger, count=2, timeout=60, after=after[-1]["lastEvaluationTime"])
        assert all(status["verdict"] == "NoDrift" for status in after), [s["checks"] for s in after]
        firings = _status(k)["firings"]
        assert len(firings) == 1, f"fired again after the promotion: {firings}"
        drifting = condition(k.get_json("driftpolicy", POLICY), "Drifting")
        assert (drifting["status"], drifting["reason"]) == ("False", "NoDrift"), drifting

        # the same traffic, judged against the training data of both worlds, still drifts
        against_training = policy_evaluations(
            k, TRAINING_POLICY, challenger, count=2, timeout=60, after=recorded["recordedAt"]
        )
        assert all(status["verdict"] == "Drift" for status in against_training)
        prediction = next(c for c in against_training[-1]["checks"] if c["name"] == "predictionDrift")
        assert prediction["verdict"] == "Drift", against_training[-1]["checks"]
        wait_for(
            lambda: any(f.get("modelVersion") == challenger for f in _status(k, TRAINING_POLICY).get("firings") or []),
            timeout=COOLDOWN_SECONDS + 30,
            interval=0.5,
            message="the training-reference policy fires on the retrained version",
        )
    assert traffic.failures == [], traffic.failures[:5]
    print(
        f"\n  after the promotion of {challenger}: baseline of {recorded['rows']} predictions; "
        f"{len(after)} evaluations NoDrift; against the training data: prediction psi {prediction['score']:.3f}, "
        + next(c["message"] for c in against_training[-1]["checks"] if c["name"] == "featureDrift")
    )
