"""The kill storm's workload: Ballast objects applied in waves, and for each kind what
"settled" means and which part of a settled object's state must come out exactly as in a run
whose operator was left alone.

The storm test knows nothing of the kinds themselves: it applies WAVES and compares the
outcome of every object of every kind in KINDS. Adding a kind (DriftPolicy, once it
reconciles) is one `Kind` in KINDS and its objects in a wave.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from tests.support.ballast_objects import condition, dataset, iris_rows, training_run


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
    return _observed(document) and _state(document, "Ready")[0] in ("True", "False") \
        and _state(document, "Reconciling")[0] == "False"


def _dataset_outcome(document: dict) -> dict:
    status = document.get("status") or {}
    ingest = status.get("ingest") or {}
    return {"Ready": _state(document, "Ready"), "latestVersion": status.get("latestVersion"),
            "versions": [(v["sha256"], v["rows"], v["valid"]) for v in status.get("versions") or []],
            # the one ingest of generation 1: a second ingest would carry another name
            "ingestJob": ingest.get("jobName"), "ingestSucceeded": ingest.get("succeeded")}


def _run_settled(document: dict) -> bool:
    return _state(document, "Succeeded")[0] in ("True", "False")


def _run_outcome(document: dict) -> dict:
    status = document.get("status") or {}
    return {"Succeeded": _state(document, "Succeeded"), "Ready": _state(document, "Ready"),
            "datasetVersion": status.get("datasetVersion"), "jobName": status.get("jobName"),
            "artifact": (status.get("artifact") or {}).get("sha256"), "modelVersion": status.get("modelVersion")}


def _serves(document: dict) -> bool:
    serving = document["spec"].get("serving")
    return bool(serving) and serving.get("enabled", True)


def _version_settled(document: dict) -> bool:
    status = document.get("status") or {}
    ready = _state(document, "Ready")[0]
    if not _observed(document) or ready not in ("True", "False"):
        return False
    return not _serves(document) or ready == "False" or (
        status.get("stage") == "Production" and status.get("readyReplicas") == status.get("replicas"))


def _version_outcome(document: dict) -> dict:
    status = document.get("status") or {}
    return {"Ready": _state(document, "Ready"), "ArtifactVerified": _state(document, "ArtifactVerified"),
            "stage": status.get("stage"), "replicas": status.get("replicas"),
            "readyReplicas": status.get("readyReplicas"), "trafficPercent": status.get("trafficPercent"),
            "artifact": document["spec"]["artifact"]["sha256"]}


KINDS: dict[str, Kind] = {
    "Dataset": Kind("datasets.ballast.dev", _dataset_settled, _dataset_outcome),
    "TrainingRun": Kind("trainingruns.ballast.dev", _run_settled, _run_outcome),
    "ModelVersion": Kind("modelversions.ballast.dev", _version_settled, _version_outcome),
}


def _served(run: dict) -> dict:
    run["spec"]["modelVersionTemplate"] = {"serving": {"replicas": 1}, "rollout": {"strategy": "Immediate"}}
    return run


def _renamed(document: dict, name: str) -> dict:
    return {**document, "metadata": {**document["metadata"], "name": name}}


def waves() -> list[list[dict]]:
    """Four waves, so that work is still arriving while the operator is being killed: new
    objects, then a changed spec (a new generation of a Dataset ingests again)."""
    rows = iris_rows()
    broken = [dict(row) for row in rows[:8]]
    broken[0]["sepal_length"] = "not a number"
    missing_artifact = {
        "apiVersion": "ballast.dev/v1alpha1", "kind": "ModelVersion", "metadata": {"name": "registered-by-hand"},
        "spec": {"model": "iris-registered", "artifact": {
            "uri": "file:///var/lib/ballast/models/iris-registered/never-written/model.skops", "sha256": "0" * 64}}}
    iris = dataset("iris", {"inline": {"rows": rows}})
    logreg = training_run("logreg", "iris", params={"C": 1.0, "max_iter": 300}, gates={"minimums": {"accuracy": 0.8}})
    return [
        [iris,
         dataset("iris-head", {"inline": {"rows": rows[:120]}}),
         dataset("iris-broken", {"inline": {"rows": broken}}, min_rows=50),
         missing_artifact],
        [logreg,
         training_run("stump", "iris", estimator="sklearn.tree.DecisionTreeClassifier", params={"max_depth": 1},
                      gates={"minimums": {"accuracy": 0.99}})],
        [_served(training_run("forest", "iris-head", model="iris-forest",
                              estimator="sklearn.ensemble.RandomForestClassifier",
                              params={"n_estimators": 15, "max_depth": 4})),
         # the same spec under another name: the same artifact, so the same ModelVersion
         _renamed(logreg, "logreg-again")],
        [{**iris, "spec": {**iris["spec"], "versionHistoryLimit": 5}}],
    ]
