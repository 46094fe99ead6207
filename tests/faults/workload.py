"""The kill storm's workload: Ballast objects applied in waves, and for each kind what
"settled" means and which part of a settled object's state must come out exactly as in a run
whose operator was left alone.

The storm test knows nothing of the kinds themselves: it applies WAVES and compares the
outcome of every object of every kind in KINDS.

The DriftPolicy watches a model of the shifting world (tests/support/shifting.py) that gets
shifted traffic from the moment it serves (`drift_traffic`): the policy must fire exactly once,
retrain on a Dataset of the new world, and see the retrained model promoted. Its run (and the
run's Job) is named after the moment of the firing, which differs from run to run: `canonical`
gives every name the storm and the undisturbed run can compare.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass

from tests.support import shifting
from tests.support.ballast_objects import condition, dataset, iris_rows, training_run
from tests.support.kube import Kubectl
from tests.support.traffic import Traffic


@dataclass(frozen=True)
class Kind:
    resource: str
    """What kubectl calls it: plural.group."""
    settled: Callable[[dict], bool]
    """The object is in a terminal state: nothing is left in flight for it."""
    outcome: Callable[[dict], dict]
    """The part of a settled object's state that may not depend on timing, restarts or kills."""


def _state(document: dict, type: str) -> tuple[str | None, str | None]:
    found = condition(document, type)
    return found.get("status"), found.get("reason")


def _observed(document: dict) -> bool:
    return (document.get("status") or {}).get("observedGeneration") == document["metadata"]["generation"]


def _dataset_settled(document: dict) -> bool:
    return (
        _observed(document)
        and _state(document, "Ready")[0] in ("True", "False")
        and _state(document, "Reconciling")[0] == "False"
    )


def _dataset_outcome(document: dict) -> dict:
    status = document.get("status") or {}
    ingest = status.get("ingest") or {}
    return {
        "Ready": _state(document, "Ready"),
        "latestVersion": status.get("latestVersion"),
        "versions": [(v["sha256"], v["rows"], v["valid"]) for v in status.get("versions") or []],
        # the one ingest of generation 1: a second ingest would carry another name
        "ingestJob": ingest.get("jobName"),
        "ingestSucceeded": ingest.get("succeeded"),
    }


def _run_settled(document: dict) -> bool:
    return _state(document, "Succeeded")[0] in ("True", "False")


def _run_outcome(document: dict) -> dict:
    status = document.get("status") or {}
    return {
        "Succeeded": _state(document, "Succeeded"),
        "Ready": _state(document, "Ready"),
        "datasetVersion": status.get("datasetVersion"),
        "jobName": canonical(status.get("jobName") or ""),
        "artifact": (status.get("artifact") or {}).get("sha256"),
        "modelVersion": status.get("modelVersion"),
    }


def _serves(document: dict) -> bool:
    serving = document["spec"].get("serving")
    return bool(serving) and serving.get("enabled", True)


def _version_settled(document: dict) -> bool:
    status = document.get("status") or {}
    ready = _state(document, "Ready")[0]
    if not _observed(document) or ready not in ("True", "False"):
        return False
    # a served version settles in Production with every replica ready, or replaced by a
    # retrained one (Superseded) and scaled to zero after its grace period
    # (its pods gone and its traffic share handed over, not only its Deployment scaled down)
    return (
        not _serves(document)
        or ready == "False"
        or (
            status.get("stage") == "Production"
            and status.get("readyReplicas") == status.get("replicas")
            and status.get("trafficPercent") == 100
        )
        or (
            status.get("stage") == "Superseded"
            and status.get("replicas") == 0
            and not status.get("readyReplicas")
            and not status.get("trafficPercent")
        )
    )


def _version_outcome(document: dict) -> dict:
    status = document.get("status") or {}
    return {
        "Ready": _state(document, "Ready"),
        "ArtifactVerified": _state(document, "ArtifactVerified"),
        "stage": status.get("stage"),
        "replicas": status.get("replicas"),
        "readyReplicas": status.get("readyReplicas"),
        "trafficPercent": status.get("trafficPercent"),
        "artifact": document["spec"]["artifact"]["sha256"],
    }


FIRING_TIME = re.compile(r"-\d{14}(?=-|$)")  # build.retrain.retrain_run_name's suffix
FINISHED_RETRAIN = {"Promoted", "NotPromoted", "RolledBack", "Failed"}


def canonical(name: str) -> str:
    """The name with the time of the firing that made it (a retrain run, its Job) left out."""
    return FIRING_TIME.sub("-<fired>", name)


def _policy_settled(document: dict) -> bool:
    """Fired, its retrain finished, and calm again on the version it put in Production."""
    firings = (document.get("status") or {}).get("firings") or []
    return (
        _observed(document)
        and bool(firings)
        and firings[0].get("outcome") in FINISHED_RETRAIN
        and _state(document, "Drifting")[0] == "False"
    )


def _policy_outcome(document: dict) -> dict:
    status = document.get("status") or {}
    # one firing, neither lost to a kill nor doubled by a replayed evaluation
    return {
        "firings": [
            (f.get("action"), f.get("outcome"), f.get("modelVersion"), canonical(f.get("trainingRun", "")))
            for f in status.get("firings") or []
        ],
        "Ready": _state(document, "Ready"),
        "Drifting": _state(document, "Drifting")[0],
        "Retraining": _state(document, "Retraining"),
    }


KINDS: dict[str, Kind] = {
    "Dataset": Kind("datasets.ballast.dev", _dataset_settled, _dataset_outcome),
    "TrainingRun": Kind("trainingruns.ballast.dev", _run_settled, _run_outcome),
    "ModelVersion": Kind("modelversions.ballast.dev", _version_settled, _version_outcome),
    "DriftPolicy": Kind("driftpolicies.ballast.dev", _policy_settled, _policy_outcome),
}


def _served(run: dict) -> dict:
    run["spec"]["modelVersionTemplate"] = {"serving": {"replicas": 1}, "rollout": {"strategy": "Immediate"}}
    return run


def _renamed(document: dict, name: str) -> dict:
    return {**document, "metadata": {**document["metadata"], "name": name}}


NEW_WORLD = f"{shifting.MODEL}-new"


def _drift_objects() -> list[dict]:
    """The shifting world's Dataset before the shift and its served model, a Dataset after the
    shift, and a policy that retrains on the latter (automatic promotion, one retrain a day)."""
    before = shifting.dataset(shifting.rows(400, shifted=False, seed=1))
    after = shifting.dataset(shifting.rows(400, shifted=True, seed=2), name=NEW_WORLD)
    initial = {
        "apiVersion": "ballast.dev/v1alpha1",
        "kind": "TrainingRun",
        "metadata": {"name": "shift-initial"},
        "spec": shifting.training_spec(),
    }
    policy = shifting.drift_policy({**shifting.training_spec(), "datasetRef": {"name": NEW_WORLD}})
    policy["spec"]["action"]["retrain"]["maxPerDay"] = 1
    return [before, after, initial, policy]


def drift_traffic(k: Kubectl) -> Traffic:
    """Shifted, labelled traffic to the shifting world's model, from its first ready endpoint on."""
    pool = shifting.rows(2000, shifted=True, seed=12)
    return Traffic(
        k,
        shifting.MODEL,
        shifting.MODEL,
        shifting.FEATURES,
        shifting.LABEL,
        rows=lambda: random.sample(pool, 5),
        pause=0.02,
    )


def waves(namespace: str) -> list[list[dict]]:
    """Four waves, so that work is still arriving while the operator is being killed: new
    objects, then a changed spec (a new generation of a Dataset ingests again). The namespace
    names the part of the store its ModelVersion's artifact is in (another's is refused)."""
    rows = iris_rows()
    broken = [dict(row) for row in rows[:8]]
    broken[0]["sepal_length"] = "not a number"
    missing_artifact = {
        "apiVersion": "ballast.dev/v1alpha1",
        "kind": "ModelVersion",
        "metadata": {"name": "registered-by-hand"},
        "spec": {
            "model": "iris-registered",
            "artifact": {
                "uri": f"file:///var/lib/ballast/{namespace}/models/iris-registered/never-written/model.skops",
                "sha256": "0" * 64,
            },
        },
    }
    iris = dataset("iris", {"inline": {"rows": rows}})
    logreg = training_run("logreg", "iris", params={"C": 1.0, "max_iter": 300}, gates={"minimums": {"accuracy": 0.8}})
    return [
        [
            iris,
            dataset("iris-head", {"inline": {"rows": rows[:120]}}),
            dataset("iris-broken", {"inline": {"rows": broken}}, min_rows=50),
            missing_artifact,
            *_drift_objects(),
        ],
        [
            logreg,
            training_run(
                "stump",
                "iris",
                estimator="sklearn.tree.DecisionTreeClassifier",
                params={"max_depth": 1},
                gates={"minimums": {"accuracy": 0.99}},
            ),
        ],
        [
            _served(
                training_run(
                    "forest",
                    "iris-head",
                    model="iris-forest",
                    estimator="sklearn.ensemble.RandomForestClassifier",
                    params={"n_estimators": 15, "max_depth": 4},
                )
            ),
            # the same spec under another name: the same artifact, so the same ModelVersion
            _renamed(logreg, "logreg-again"),
        ],
        [{**iris, "spec": {**iris["spec"], "versionHistoryLimit": 5}}],
    ]
