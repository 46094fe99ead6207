"""Serving on the real local cluster: a trained model answers Open Inference Protocol requests
from its Deployment's pods, reached at the addresses the real EndpointSlice controller
publishes (as kube-proxy would route), and an Immediate rollout replaces it without a failed
request."""

from __future__ import annotations

import json
import random
import threading
import urllib.error
import urllib.request

import pandas as pd

from ballast.models import load_model
from ballast.training.features import feature_columns, feature_frame
from ballast.api.dataset import DatasetSchema
from tests.support.ballast_objects import (
    IRIS_COLUMNS, condition, dataset, iris_rows, training_run, wait_for_condition,
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


def test_a_trained_model_is_served_and_an_immediate_rollout_replaces_it_without_failed_requests(
        kubectl: Kubectl, namespace: str, ballast_operator):
    k = kubectl.in_namespace(namespace)
    k.apply(dataset("iris", {"inline": {"rows": iris_rows()}}))
    wait_for_condition(k, "dataset", "iris", "Ready", timeout=120)
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
