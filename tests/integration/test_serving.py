"""Serving on the real local cluster: a trained model answers Open Inference Protocol requests
from its Deployment's pods, reached at the addresses the real EndpointSlice controller
publishes (as kube-proxy would route), and an Immediate rollout replaces it without a failed
request."""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.error
import urllib.request

import pandas as pd
import pytest

from ballast.models import load_model
from ballast.training.features import feature_columns, feature_frame
from ballast.api.dataset import DatasetSchema
from tests.support.ballast_objects import (
    IRIS_COLUMNS, condition, dataset, iris_rows, run_ballast, training_run, wait_for_condition,
)
from tests.support.kube import Kubectl, shared_store_dir, wait_for

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def ready_endpoints(k: Kubectl, service: str) -> list[str]:
    slices = k.get_json("endpointslices", "-l", f"kubernetes.io/service-name={service}")["items"]
    return [f"{endpoint['addresses'][0]}:{port['port']}"
            for s in slices for endpoint in s.get("endpoints") or [] if endpoint["conditions"].get("ready")
            for port in s.get("ports") or []]


def infer(endpoint: str, rows: list[dict], timeout: float = 5) -> dict:
    body = {"inputs": [{"name": name, "shape": [len(rows)], "datatype": "FP64",
                        "data": [float(row[name]) for row in rows]} for name in FEATURES]}
    request = urllib.request.Request(f"http://{endpoint}/v2/models/iris/infer", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def serve_run(name: str, estimator: str, params: dict) -> dict:
    run = training_run(name, "iris", estimator=estimator, params=params)
    run["spec"]["modelVersionTemplate"] = {"serving": {"replicas": 1}, "rollout": {"strategy": "Immediate"}}
    return run


def production(k: Kubectl, name: str) -> dict:
    def promoted():
        version = k.get_json("modelversion", name)
        return version if (version.get("status") or {}).get("stage") == "Production" else None

    return wait_for(promoted, timeout=180, interval=1, message=f"{name} in Production")


@pytest.fixture
def k(kubectl: Kubectl, namespace: str, ballast_operator) -> Kubectl:
    """The test's namespace, with the iris Dataset ingested and valid."""
    k = kubectl.in_namespace(namespace)
    k.apply(dataset("iris", {"inline": {"rows": iris_rows()}}))
    wait_for_condition(k, "dataset", "iris", "Ready", timeout=120)
    return k


def test_a_trained_model_is_served_and_an_immediate_rollout_replaces_it_without_failed_requests(
        k: Kubectl, namespace: str):
    k.apply(serve_run("first", "sklearn.linear_model.LogisticRegression", {"max_iter": 300}))
    first = wait_for_condition(k, "trainingrun", "first", "Succeeded")
    assert condition(first, "Succeeded")["status"] == "True", condition(first, "Succeeded")
    version = production(k, first["status"]["modelVersion"])
    assert version["status"]["trafficPercent"] == 100
    assert version["status"]["endpoint"] == f"http://iris.{namespace}.svc/v2/models/iris"

    endpoints = wait_for(lambda: ready_endpoints(k, "iris"), timeout=60, message="a ready endpoint for iris")
    rows = iris_rows()[::10]
    response = infer(endpoints[0], rows)
    predicted = next(o for o in response["outputs"] if o["name"] == "predict")["data"]

    artifact = version["spec"]["artifact"]
    local = load_model((shared_store_dir() / artifact["uri"].removeprefix("file:///var/lib/ballast/")).read_bytes(),
                       artifact["sha256"])
    schema = DatasetSchema.model_validate({"columns": IRIS_COLUMNS, "target": "species"})
    frame = feature_frame(pd.DataFrame(rows).drop(columns="species"), feature_columns(schema))
    assert predicted == local.predict(frame).tolist()

    failures, successes, stop = [], [], threading.Event()

    def client():  # as kube-proxy would: a ready endpoint of the Service for every request
        while not stop.is_set():
            current = ready_endpoints(k, "iris")
            try:
                infer(random.choice(current), rows[:1])
                successes.append(1)
            except (urllib.error.URLError, OSError, IndexError) as error:
                failures.append(repr(error))

    thread = threading.Thread(target=client, daemon=True)
    thread.start()
    try:
        k.apply(serve_run("second", "sklearn.ensemble.RandomForestClassifier", {"n_estimators": 20}))
        second = wait_for_condition(k, "trainingrun", "second", "Succeeded")
        production(k, second["status"]["modelVersion"])
        old = first["status"]["modelVersion"]
        wait_for(lambda: (k.get_json("modelversion", old)["status"].get("stage") == "Superseded"
                          and not k.get_json("pods", "-l", f"ballast.dev/model-version={old}")["items"]),
                 timeout=120, interval=1, message="the old version superseded and scaled to zero")
    finally:
        stop.set()
        thread.join(timeout=30)
    assert failures == [], failures[:5]
    assert len(successes) > 10


class LabelledTraffic:
    """A client that, like production traffic with a delayed ground truth, sends each request
    to a ready endpoint of the Service and then the true label to the same pod."""

    def __init__(self, k: Kubectl, service: str):
        self.k, self.service = k, service
        self.failures: list[str] = []
        self.answered = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._rows = iris_rows()

    def __enter__(self) -> "LabelledTraffic":
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        endpoints, refreshed = [], 0.0
        while not self._stop.is_set():
            if time.monotonic() - refreshed > 0.5:  # as kube-proxy: follow the EndpointSlices
                endpoints, refreshed = ready_endpoints(self.k, self.service), time.monotonic()
            if not endpoints:
                continue
            row = random.choice(self._rows)
            endpoint = random.choice(endpoints)
            try:
                answer = infer(endpoint, [row])
                self.answered += 1
                feedback = json.dumps({"id": answer["id"], "labels": [row["species"]]}).encode()
                request = urllib.request.Request(f"http://{endpoint}/v2/models/iris/feedback", data=feedback,
                                                 headers={"Content-Type": "application/json"})
                urllib.request.urlopen(request, timeout=5).read()
            except (urllib.error.URLError, OSError) as error:
                self.failures.append(f"{endpoint}: {error!r}")


def canary_run(name: str, estimator: str, params: dict) -> dict:
    run = training_run(name, "iris", estimator=estimator, params=params)
    run["spec"]["modelVersionTemplate"] = {
        "serving": {"replicas": 1},
        "rollout": {"strategy": "Canary", "steps": [25, 50], "analysisInterval": "6s"}}
    return run


def stage_of(k: Kubectl, name: str) -> str | None:
    return (k.get_json("modelversion", name).get("status") or {}).get("stage")


def test_a_better_canary_is_promoted_step_by_step_and_a_worse_one_rolls_back(k: Kubectl):
    k.apply(serve_run("base", "sklearn.tree.DecisionTreeClassifier", {"max_depth": 2}))
    base = wait_for_condition(k, "trainingrun", "base", "Succeeded")["status"]["modelVersion"]
    production(k, base)

    with LabelledTraffic(k, "iris") as traffic:
        k.apply(canary_run("better", "sklearn.ensemble.RandomForestClassifier", {"n_estimators": 30}))
        better = wait_for_condition(k, "trainingrun", "better", "Succeeded")["status"]["modelVersion"]
        wait_for(lambda: stage_of(k, better) == "Canary", timeout=60, message="the better version as canary")
        promoted = production(k, better)
        assert promoted["status"]["analysis"]["verdict"] == "Pass"
        steps = k.get_json("events", "--field-selector", f"involvedObject.name={better},reason=CanaryStep")
        assert steps["items"], "the canary went through its steps"
        wait_for(lambda: stage_of(k, base) == "Superseded", timeout=60, message="the base version superseded")

        k.apply(canary_run("worse", "sklearn.tree.DecisionTreeClassifier", {"max_depth": 1}))
        worse = wait_for_condition(k, "trainingrun", "worse", "Succeeded")["status"]["modelVersion"]
        wait_for(lambda: stage_of(k, worse) == "RolledBack", timeout=180, interval=1,
                 message="the worse canary rolled back")
        rolled_back = k.get_json("modelversion", worse)
        assert "accuracy" in rolled_back["status"]["rollbackReason"], rolled_back["status"]
        assert stage_of(k, better) == "Production"
        wait_for(lambda: not k.get_json("pods", "-l", f"ballast.dev/model-version={worse}")["items"],
                 timeout=60, message="the rolled back canary scaled to zero")

        output = run_ballast(k, "rollback", "iris", "--to", base, "--timeout", "120")
        assert f"{base} is in Production" in output
        wait_for(lambda: stage_of(k, better) == "Superseded", timeout=60, message="the better version superseded")
    assert traffic.failures == [], traffic.failures[:5]
    assert traffic.answered > 50
