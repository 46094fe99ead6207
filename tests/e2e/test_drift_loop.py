"""The closed loop on the real local cluster: a model serves, the world shifts, the DriftPolicy
fires, the Dataset's next version holds the new data, retraining beats the champion on it, the
canary passes, the new version takes over, and the same traffic no longer fires.

Run it alone to watch it as a demo: `.venv/bin/pytest tests/e2e/test_drift_loop.py -s`.
"""

from __future__ import annotations

import time

from ballast.reconcile.durations import parse_duration, parse_time
from tests.support import shifting
from tests.support.ballast_objects import condition, policy_evaluations, wait_for_condition
from tests.support.kube import Kubectl, wait_for
from tests.support.shifting_cluster import production_version, serve_first_model, shifting_traffic

CANARY = {"strategy": "Canary", "steps": [50], "analysisInterval": "8s"}
POLICY = f"{shifting.MODEL}-drift"


def _policy(k: Kubectl) -> dict:
    return k.get_json("driftpolicy", POLICY)


def test_drift_is_noticed_retrained_on_new_data_proven_better_and_rolled_out(
    kubectl: Kubectl, namespace: str, ballast_operator
):
    k = kubectl.in_namespace(namespace)
    champion = serve_first_model(k)
    k.apply(shifting.drift_policy(shifting.training_spec(rollout=CANARY)))

    with shifting_traffic(k, shifted=False) as traffic:
        calm = policy_evaluations(k, POLICY, champion, count=4, timeout=90)
        assert all(status["verdict"] in ("NoDrift", "NotEnoughData") for status in calm), calm[-1]["checks"]
        assert any(status["verdict"] == "NoDrift" for status in calm), "no window was ever judged"
        assert not (_policy(k).get("status") or {}).get("firings"), "training-like traffic fired"

        # The world shifts; the data pipeline lands the new labelled data as the next version.
        onset = time.time()
        traffic.world = "shifted"
        old_version = k.get_json("dataset", shifting.MODEL)["status"]["latestVersion"]
        new_rows = shifting.rows(400, shifted=True, seed=2)
        k.apply(shifting.dataset(new_rows))

        fired = wait_for(
            lambda: ((_policy(k).get("status") or {}).get("firings") or [None])[0],
            timeout=90,
            interval=0.5,
            message="the policy fires",
        )
        fired_at = time.time()
        firing = wait_for(
            lambda: next((f for f in _policy(k)["status"]["firings"] if f.get("trainingRun")), None),
            timeout=90,
            interval=0.5,
            message="a retraining run",
        )
        run_created_at = time.time()
        assert len(_policy(k)["status"]["firings"]) == 1, "one firing, not several"
        run = wait_for_condition(k, "trainingrun", firing["trainingRun"], "Succeeded")
        assert condition(run, "Succeeded")["status"] == "True", run["status"]
        dataset = k.get_json("dataset", shifting.MODEL)["status"]
        assert dataset["latestVersion"] != old_version
        assert run["spec"]["datasetRef"]["version"] == dataset["latestVersion"], "trained on the newest version"
        assert run["status"]["champion"] == champion
        gate = next(g for g in run["status"]["gates"] if g["name"] == "mustBeatChampion")
        assert gate["passed"], gate
        challenger = run["status"]["modelVersion"]
        wait_for_condition(k, "modelversion", challenger, "Ready", statuses=("True",))
        ready_at = time.time()

        wait_for(
            lambda: production_version(k) == challenger,
            timeout=180,
            interval=0.5,
            message="the retrained version promoted",
        )
        promoted_at = time.time()
        promoted = k.get_json("modelversion", challenger)
        assert promoted["status"]["analysis"]["verdict"] == "Pass"
        wait_for(
            lambda: _policy(k)["status"]["firings"][0].get("outcome") == "Promoted",
            timeout=30,
            message="the policy records the promotion",
        )

        after = policy_evaluations(k, POLICY, challenger, count=3, timeout=90)
        assert all(status["verdict"] != "Drift" for status in after), after[-1]["checks"]
        assert any(status["verdict"] == "NoDrift" for status in after)
        assert len(_policy(k)["status"]["firings"]) == 1, "the same traffic fired again"
    assert traffic.failures == [], traffic.failures[:5]

    training = (parse_time(run["status"]["completedAt"]) - parse_time(run["status"]["startedAt"])).total_seconds()
    analysis = parse_duration(CANARY["analysisInterval"]) * len(CANARY["steps"])
    events = k.get_json("events", "--field-selector", f"involvedObject.name={POLICY}")["items"]
    reasons = {event["reason"] for event in events}
    assert {"DriftDetected", "RetrainStarted", "RetrainPromoted"} <= reasons, reasons
    print(
        f"\n  drift loop timeline (seconds from drift onset)\n"
        f"    drift onset                 0.0\n"
        f"    policy fired              {fired_at - onset:5.1f}  ({fired['reason'][:70]})\n"
        f"    TrainingRun created       {run_created_at - onset:5.1f}  ({firing['trainingRun']})\n"
        f"    ModelVersion Ready        {ready_at - onset:5.1f}  ({challenger})\n"
        f"    promoted                  {promoted_at - onset:5.1f}\n"
        f"    firing -> promotion, less training ({training:.1f}s): {promoted_at - fired_at - training:.1f}s\n"
        f"    the same, less the canary's analysis window ({analysis:.0f}s): "
        f"{promoted_at - fired_at - training - analysis:.1f}s"
    )


def test_a_retrained_model_worse_than_the_champion_is_not_promoted_and_the_policy_says_so(
    kubectl: Kubectl, namespace: str, ballast_operator
):
    k = kubectl.in_namespace(namespace)
    champion = serve_first_model(k)
    # a stump cannot draw the diagonal boundary the champion learned
    weak = shifting.training_spec("sklearn.tree.DecisionTreeClassifier", {"max_depth": 1}, rollout=CANARY)
    k.apply(shifting.drift_policy(weak))
    with shifting_traffic(k, shifted=True):
        k.apply(shifting.dataset(shifting.rows(400, shifted=False, seed=5)))  # new data, same world
        firing = wait_for(
            lambda: next(
                (
                    f
                    for f in (_policy(k).get("status") or {}).get("firings") or []
                    if f.get("outcome") in ("NotPromoted", "Failed")
                ),
                None,
            ),
            timeout=120,
            interval=0.5,
            message="the retraining rejected",
        )
    assert firing["outcome"] == "NotPromoted", firing
    assert "champion" in firing["message"], firing
    retraining = condition(_policy(k), "Retraining")
    assert (retraining["status"], retraining["reason"]) == ("False", "NotPromoted")
    assert production_version(k) == champion
    run = k.get_json("trainingrun", firing["trainingRun"])
    assert "modelVersion" not in run["status"], "a rejected run registered a version"
    events = k.get_json("events", "--field-selector", f"involvedObject.name={POLICY},reason=RetrainRejected")
    assert events["items"], "no RetrainRejected Event"
