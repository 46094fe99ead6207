"""kstatus itself (sigs.k8s.io/cli-utils, what Flux's health checks, kpt and Config Sync wait
on) on live Ballast objects, one of each kind in each state: work under way is InProgress, a
failure Failed, a finished or serving object Current, as a person would say of each."""

from __future__ import annotations

import pytest
from sklearn.linear_model import LogisticRegression

from ballast.build.naming import DATASET_SOURCE_LABEL
from ballast.models.skops_format import serialize_model
from tests.support.ballast_objects import (
    condition,
    dataset,
    iris_rows,
    training_run,
    wait_for_condition,
    wait_for_stage,
)
from tests.support.kstatus import kstatus_binary, live_kstatus
from tests.support.kube import Kubectl, wait_for
from tests.support.planted_models import STORE, model_version, plant


@pytest.fixture
def k(kubectl: Kubectl, namespace: str, ballast_operator) -> Kubectl:
    kstatus_binary()  # built before any object exists: a cold build must not eat the waits below
    return kubectl.in_namespace(namespace)


def drift_policy(name: str, model: str, template_spec: dict) -> dict:
    return {
        "apiVersion": "ballast.dev/v1alpha1",
        "kind": "DriftPolicy",
        "metadata": {"name": name},
        "spec": {
            "model": model,
            "interval": "1m",
            "window": {"minSamples": 100},
            "action": {"type": "retrain", "retrain": {"template": {"spec": {**template_spec, "model": model}}}},
        },
    }


def unbindable_source_claim(name: str) -> dict:
    """A claim Ballast may read from (it carries the source label) that no volume will ever bind:
    the ingest pod waits for it for good, so the Dataset stays in the middle of its ingest."""
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "labels": {DATASET_SOURCE_LABEL: "true"}},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": "no-such-class",
            "resources": {"requests": {"storage": "1Mi"}},
        },
    }


def test_kstatus_says_in_progress_current_or_failed_of_each_kind_as_a_person_would(k: Kubectl, namespace: str):
    # Datasets: a valid ingest, an invalid one, one whose ingest cannot run
    k.apply(dataset("iris", {"inline": {"rows": iris_rows()}}))
    k.apply(dataset("broken", {"inline": {"rows": iris_rows()[:6]}}, min_rows=50))
    k.apply(unbindable_source_claim("unbound"))
    k.apply(dataset("stuck", {"pvc": {"claimName": "unbound", "path": "iris.csv"}}))
    # the runs below wait for a valid version only the tests' 90 s (operator_process), image loading included
    iris = wait_for_condition(k, "dataset", "iris", "Ready", timeout=240)
    assert condition(iris, "Ready")["status"] == "True", condition(iris, "Ready")
    # TrainingRuns: one that trains and serves, one that fails its gate (and one waiting, below)
    served = training_run("served", "iris", params={"max_iter": 300})
    served["spec"]["modelVersionTemplate"] = {"serving": {"replicas": 1}, "rollout": {"strategy": "Immediate"}}
    k.apply(served)
    stump = "sklearn.tree.DecisionTreeClassifier"  # one split: about two thirds right, under the gate
    k.apply(
        training_run("stump", "iris", estimator=stump, params={"max_depth": 1}, gates={"minimums": {"accuracy": 0.99}})
    )
    # ModelVersions: a missing artifact (and, below, a served one no node can take)
    k.apply(model_version("missing", "elsewhere", f"{STORE}/{namespace}/models/elsewhere/none/model.skops", "1" * 64))
    # DriftPolicies: one watching the served model, one waiting for a Production version, one
    # whose retraining could never run (custom images are not enabled)
    plain = {"datasetRef": {"name": "iris"}, "estimator": "sklearn.linear_model.LogisticRegression"}
    k.apply(drift_policy("watching", "iris", plain))
    k.apply(drift_policy("unwatched", "nothing-served", plain))
    k.apply(drift_policy("refused", "nothing-served", {**plain, "image": "registry.example/own:1"}))

    run = wait_for_condition(k, "trainingrun", "served", "Succeeded", timeout=240)
    assert condition(run, "Succeeded")["status"] == "True", condition(run, "Succeeded")
    served_version = run["status"]["modelVersion"]
    # planted once training has written to the store: a folder the tests make first would be
    # root's, and the training pod could not write its own model next to it
    model = serialize_model(LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1]))
    uri, sha = plant(namespace, "huge", "v1", model.data)
    huge = model_version("huge-v1", "huge", uri, sha)
    huge["spec"]["serving"] = {"replicas": 1, "resources": {"requests": {"memory": "100Ti"}}}
    k.apply(huge)
    wait_for_stage(k, served_version, "Production")
    wait_for_condition(k, "trainingrun", "stump", "Succeeded", timeout=120)
    wait_for_condition(k, "dataset", "broken", "Ready", timeout=120)
    # created last, for the same 90 s
    k.apply(training_run("waiting", "not-yet"))

    expected = {
        ("Dataset", "iris"): "Current",
        ("Dataset", "broken"): "Failed",
        ("Dataset", "stuck"): "InProgress",
        ("TrainingRun", "served"): "Current",
        ("TrainingRun", "stump"): "Failed",
        ("TrainingRun", "waiting"): "InProgress",
        ("ModelVersion", served_version): "Current",
        ("ModelVersion", "missing"): "Failed",
        ("ModelVersion", "huge-v1"): "InProgress",
        ("DriftPolicy", "watching"): "Current",
        ("DriftPolicy", "unwatched"): "InProgress",
        ("DriftPolicy", "refused"): "Failed",
    }
    seen: list[dict] = []

    def as_expected() -> bool:
        seen.append(live_kstatus(k))
        return seen[-1] == expected

    try:
        wait_for(as_expected, timeout=60, interval=2, message="kstatus's verdicts")
    except AssertionError:
        assert seen[-1] == expected  # says which differ

    # what each failure says, for the person Flux tells
    assert condition(k.get_json("trainingrun", "stump"), "Stalled")["reason"] == "GateFailed"
    assert condition(k.get_json("modelversion", "missing"), "Stalled")["reason"] == "ArtifactMissing"
    assert condition(k.get_json("dataset", "broken"), "Stalled")["reason"] == "InvalidData"
    assert condition(k.get_json("driftpolicy", "refused"), "Stalled")["reason"] == "ImageNotAllowed"
