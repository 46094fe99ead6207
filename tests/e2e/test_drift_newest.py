"""The newest part of the training data as the reference, on the real local cluster and real data
(breast cancer, tests/support/tumours.py): the Dataset holds the small tumours recorded in January
and the large ones recorded in June, a model is trained on both, and the traffic is large tumours
only. A policy judging against the rows of the last 30 days of the data is calm from its first
window; a policy on the same model judging against the whole training data reports drift.

Run it alone to watch it: `.venv/bin/pytest tests/e2e/test_drift_newest.py -s`.
"""

from __future__ import annotations

import random

from tests.support import tumours
from tests.support.ballast_objects import condition, policy_evaluations, serve_first_version
from tests.support.kube import Kubectl
from tests.support.traffic import Traffic

NEWEST_POLICY, TRAINING_POLICY = f"{tumours.MODEL}-drift-newest", f"{tumours.MODEL}-drift-training"
NEWEST = {"source": "newestTraining", "newest": {"timeColumn": tumours.TIME, "period": "720h"}}
CHECKS = {"accuracy": {"enabled": False}, "errorRates": {"enabled": False}}
NOTIFY = {"type": "notify"}


def test_the_newest_part_of_the_training_data_is_calm_where_the_whole_of_it_drifts(
    kubectl: Kubectl, namespace: str, ballast_operator
):
    k = kubectl.in_namespace(namespace)
    run = {"apiVersion": "ballast.dev/v1alpha1", "kind": "TrainingRun", "metadata": {"name": "both-worlds"}}
    version = serve_first_version(k, tumours.dated_dataset(), run | {"spec": tumours.training_spec()})
    k.apply(tumours.drift_policy(NEWEST_POLICY, NEWEST, CHECKS, NOTIFY))
    k.apply(tumours.drift_policy(TRAINING_POLICY, {"source": "training"}, CHECKS, NOTIFY))

    large = tumours.records(tumours.large())
    traffic = Traffic(
        k,
        tumours.MODEL,
        tumours.MODEL,
        tumours.FEATURES,
        tumours.LABEL,
        rows=lambda: random.sample(large, 5),
        pause=0.02,
    )
    with traffic:
        newest = policy_evaluations(k, NEWEST_POLICY, version, count=3, timeout=120)
        whole = policy_evaluations(k, TRAINING_POLICY, version, count=2, timeout=60)
    assert traffic.failures == [], traffic.failures[:5]
    judged = [status for status in newest if status.get("verdict") != "NotEnoughData"]
    assert judged, [status["checks"] for status in newest]
    assert all(status["verdict"] == "NoDrift" for status in judged), [s["checks"] for s in judged]
    ready = condition(k.get_json("driftpolicy", NEWEST_POLICY), "Ready")
    assert ready["status"] == "True", ready
    assert all(status["verdict"] == "Drift" for status in whole), [s["checks"] for s in whole]
    prediction = next(c for c in whole[-1]["checks"] if c["name"] == "predictionDrift")
    assert prediction["verdict"] == "Drift", whole[-1]["checks"]
    print(
        f"\n  {version}, large tumours only: against the newest 30 days, {len(judged)} evaluations NoDrift "
        f"(largest feature score {max(s.get('score') or 0 for s in judged):.3f}); against the whole "
        f"training data, prediction psi {prediction['score']:.3f}, "
        + next(c["message"] for c in whole[-1]["checks"] if c["name"] == "featureDrift")
    )
