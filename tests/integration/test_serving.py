"""Serving on the real local cluster: a trained model answers Open Inference Protocol requests
from its Deployment's pods, reached at the addresses the real EndpointSlice controller
publishes (as kube-proxy would route), over REST and gRPC, and an Immediate rollout replaces it without a failed
request."""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pandas as pd
import pytest
import tritonclient.grpc as triton_grpc

from ballast.api.dataset import DatasetSchema
from ballast.models.skops_format import load_model
from ballast.training.features import feature_columns, feature_frame
from tests.support import traffic
from tests.support.ballast_objects import (
    IRIS_COLUMNS,
    condition,
    iris_rows,
    run_ballast,
    training_run,
    wait_for_condition,
    with_ready_iris_dataset,
)
from tests.support.kube import Kubectl, shared_store_dir, wait_for
from tests.support.traffic import ready_endpoints

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def infer(endpoint: str, rows: list[dict], timeout: float = 5) -> dict:
    return traffic.infer(endpoint, "iris", FEATURES, rows, timeout)


def grpc_predictions(endpoint: str, rows: list[dict]) -> list[str]:
    """`predict` over the OIP gRPC API (the pods' port named grpc), with Triton's gRPC client."""
    client = triton_grpc.InferenceServerClient(endpoint)
    try:
        assert client.is_model_ready("iris")
        inputs = []
        for name in FEATURES:
            inputs.append(triton_grpc.InferInput(name, [len(rows)], "FP64"))
            inputs[-1].set_data_from_numpy(np.array([float(row[name]) for row in rows]))
        result = client.infer("iris", inputs, outputs=[triton_grpc.InferRequestedOutput("predict")])
        return [label.decode() for label in result.as_numpy("predict")]
    finally:
        client.close()


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
    return with_ready_iris_dataset(kubectl, namespace)


def test_a_trained_model_is_served_and_an_immediate_rollout_replaces_it_without_failed_requests(
    k: Kubectl, namespace: str
):
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
    local = load_model(
        (shared_store_dir() / artifact["uri"].removeprefix("file:///var/lib/ballast/")).read_bytes(), artifact["sha256"]
    )
    schema = DatasetSchema.model_validate({"columns": IRIS_COLUMNS, "target": "species"})
    frame = feature_frame(pd.DataFrame(rows).drop(columns="species"), feature_columns(schema))
    assert predicted == local.predict(frame).tolist()
    assert grpc_predictions(ready_endpoints(k, "iris", "grpc")[0], rows) == predicted

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
        wait_for(
            lambda: (
                k.get_json("modelversion", old)["status"].get("stage") == "Superseded"
                and not k.get_json("pods", "-l", f"ballast.dev/model-version={old}")["items"]
            ),
            timeout=120,
            interval=1,
            message="the old version superseded and scaled to zero",
        )
    finally:
        stop.set()
        thread.join(timeout=30)
    assert failures == [], failures[:5]
    assert len(successes) > 10


def test_a_service_deleted_behind_ballasts_back_comes_back_owned_by_the_serving_version(k: Kubectl):
    k.apply(serve_run("served", "sklearn.linear_model.LogisticRegression", {"max_iter": 300}))
    run = wait_for_condition(k, "trainingrun", "served", "Succeeded")
    version = production(k, run["status"]["modelVersion"])
    original = k.get_json("service", "iris")

    def recreated() -> dict | None:
        if k.run("get", "service", "iris", check=False).returncode != 0:
            return None
        service = k.get_json("service", "iris")
        return service if service["metadata"]["uid"] != original["metadata"]["uid"] else None

    k.run("delete", "service", "iris", "--wait=true")
    deleted = time.monotonic()
    again = wait_for(recreated, timeout=30, interval=0.5, message="the Service applied again")
    took = time.monotonic() - deleted
    assert [o["uid"] for o in again["metadata"]["ownerReferences"]] == [version["metadata"]["uid"]]
    assert again["spec"]["selector"] == original["spec"]["selector"]
    endpoints = wait_for(lambda: ready_endpoints(k, "iris"), timeout=30, message="the new Service's endpoints")
    assert infer(endpoints[0], iris_rows()[:1])["outputs"]
    assert took < 2 * 2 + 5, f"the Service came back {took:.1f}s after its deletion"  # two poll intervals


def test_a_deleted_namespace_goes_with_its_served_model(k: Kubectl, kubectl: Kubectl, namespace: str):
    """kopf puts its finalizer on every object with a timer. A namespaced operator must go on
    watching a namespace being deleted until it has removed them (ballast.kopf_workarounds):
    without that, every namespace deleted with a served model in it stayed Terminating."""
    k.apply(serve_run("served", "sklearn.linear_model.LogisticRegression", {"max_iter": 300}))
    run = wait_for_condition(k, "trainingrun", "served", "Succeeded")
    production(k, run["status"]["modelVersion"])

    kubectl.run("delete", "namespace", namespace, "--wait=false")
    wait_for(
        lambda: kubectl.run("get", "namespace", namespace, check=False).returncode != 0,
        timeout=90,
        interval=1,
        message=f"namespace {namespace} gone",
    )


def test_a_serving_pod_no_node_can_take_is_named_in_ready_with_one_warning(k: Kubectl):
    run = serve_run("huge", "sklearn.linear_model.LogisticRegression", {"max_iter": 300})
    run["spec"]["modelVersionTemplate"]["serving"]["resources"] = {"requests": {"memory": "100Ti"}}
    k.apply(run)
    name = wait_for_condition(k, "trainingrun", "huge", "Succeeded")["status"]["modelVersion"]

    def named() -> dict | None:
        ready = condition(k.get_json("modelversion", name), "Ready")
        return ready if ready.get("reason") == "PodCannotStart" else None

    ready = wait_for(named, timeout=60, interval=0.5, message="Ready says PodCannotStart")
    assert ready["status"] == "Unknown" and "Insufficient memory" in ready["message"], ready
    time.sleep(3)  # a few more reconciles: still one Event
    events = k.get_json("events", "--field-selector", f"involvedObject.name={name},reason=PodCannotStart")["items"]
    assert [(e["type"], e.get("count", 1)) for e in events] == [("Warning", 1)], events


def labelled_iris_traffic(k: Kubectl) -> traffic.Traffic:
    """One iris row per request, each followed by its true label (a delayed ground truth)."""
    rows = iris_rows()
    return traffic.Traffic(k, "iris", "iris", FEATURES, "species", rows=lambda: [random.choice(rows)])


def canary_run(name: str, estimator: str, params: dict) -> dict:
    run = training_run(name, "iris", estimator=estimator, params=params)
    run["spec"]["modelVersionTemplate"] = {
        "serving": {"replicas": 1},
        "rollout": {"strategy": "Canary", "steps": [25, 50], "analysisInterval": "6s"},
    }
    return run


def stage_of(k: Kubectl, name: str) -> str | None:
    return (k.get_json("modelversion", name).get("status") or {}).get("stage")


def test_a_better_canary_is_promoted_step_by_step_and_a_worse_one_rolls_back(k: Kubectl):
    k.apply(serve_run("base", "sklearn.tree.DecisionTreeClassifier", {"max_depth": 2}))
    base = wait_for_condition(k, "trainingrun", "base", "Succeeded")["status"]["modelVersion"]
    production(k, base)

    with labelled_iris_traffic(k) as labelled:
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
        wait_for(
            lambda: stage_of(k, worse) == "RolledBack", timeout=180, interval=1, message="the worse canary rolled back"
        )
        rolled_back = k.get_json("modelversion", worse)
        assert "accuracy" in rolled_back["status"]["rollbackReason"], rolled_back["status"]
        assert stage_of(k, better) == "Production"
        wait_for(
            lambda: not k.get_json("pods", "-l", f"ballast.dev/model-version={worse}")["items"],
            timeout=60,
            message="the rolled back canary scaled to zero",
        )

        output = run_ballast(k, "rollback", "iris", "--to", base, "--timeout", "120")
        assert f"{base} is in Production" in output
        wait_for(lambda: stage_of(k, better) == "Superseded", timeout=60, message="the better version superseded")
    assert labelled.failures == [], labelled.failures[:5]
    assert labelled.answered > 50


def _post(endpoint: str, path: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"http://{endpoint}{path}", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def _named(rows: list[dict], names=FEATURES, datatype="FP64") -> list[dict]:
    return [
        {"name": name, "shape": [len(rows)], "datatype": datatype, "data": [row[name] for row in rows]}
        for name in names
    ]


MALFORMED = {
    "not json": ("/v2/models/iris/infer", b"{inputs: nope"),
    "not an object": ("/v2/models/iris/infer", b"[1, 2, 3]"),
    "no inputs": ("/v2/models/iris/infer", b'{"id": "x"}'),
    "empty inputs": ("/v2/models/iris/infer", b'{"inputs": []}'),
    "unknown model": ("/v2/models/penguins/infer", json.dumps({"inputs": _named(iris_rows()[:1])}).encode()),
    "missing feature": (
        "/v2/models/iris/infer",
        json.dumps({"inputs": _named(iris_rows()[:1], FEATURES[:3])}).encode(),
    ),
    "shape does not match data": (
        "/v2/models/iris/infer",
        json.dumps({"inputs": [{**tensor, "shape": [3]} for tensor in _named(iris_rows()[:1])]}).encode(),
    ),
    "strings in a number tensor": (
        "/v2/models/iris/infer",
        json.dumps({"inputs": [{**tensor, "data": ["a"]} for tensor in _named(iris_rows()[:1])]}).encode(),
    ),
    "unknown datatype": (
        "/v2/models/iris/infer",
        json.dumps({"inputs": _named(iris_rows()[:1], datatype="FP128")}).encode(),
    ),
    "matrix with the wrong width": (
        "/v2/models/iris/infer",
        json.dumps(
            {"inputs": [{"name": "input-0", "shape": [1, 3], "datatype": "FP64", "data": [[1.0, 2.0, 3.0]]}]}
        ).encode(),
    ),
    "feedback for an unknown response": ("/v2/models/iris/feedback", b'{"labels": ["setosa"]}'),
}


def test_malformed_requests_get_protocol_errors_and_bad_artifacts_never_replace_production(k: Kubectl, namespace: str):
    k.apply(serve_run("good", "sklearn.linear_model.LogisticRegression", {"max_iter": 300}))
    good = production(k, wait_for_condition(k, "trainingrun", "good", "Succeeded")["status"]["modelVersion"])
    endpoint = wait_for(lambda: ready_endpoints(k, "iris"), timeout=60, message="a ready endpoint")[0]
    valid = json.dumps({"inputs": _named(iris_rows()[:2])}).encode()
    for kind, (path, body) in MALFORMED.items():
        status, answer = _post(endpoint, path, body)
        assert 400 <= status < 500, (kind, status, answer)
        assert isinstance(answer.get("error"), str) and len(answer["error"]) > 10, (kind, answer)
        assert _post(endpoint, "/v2/models/iris/infer", valid)[0] == 200, f"the server stopped serving after {kind}"

    # a corrupted artifact and a pickle, registered for the same model with serving on
    artifact = good["spec"]["artifact"]
    store = shared_store_dir()
    corrupted = store / f"{namespace}/models/iris-{namespace}/corrupted/model.skops"
    corrupted.parent.mkdir(parents=True, exist_ok=True)
    corrupted.write_bytes((store / artifact["uri"].removeprefix("file:///var/lib/ballast/")).read_bytes()[:-100])
    pickled = store / f"{namespace}/models/iris-{namespace}/pickled/model.skops"
    pickled.parent.mkdir(parents=True, exist_ok=True)
    pickled.write_bytes(b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x94\x8c\x06system\x94\x93\x94.")
    for name, path, sha in (
        ("corrupted", corrupted, artifact["sha256"]),
        ("pickled", pickled, hashlib.sha256(pickled.read_bytes()).hexdigest()),
    ):
        k.apply(
            {
                "apiVersion": "ballast.dev/v1alpha1",
                "kind": "ModelVersion",
                "metadata": {"name": name},
                "spec": {
                    "model": "iris",
                    "serving": {"replicas": 1},
                    "rollout": {"strategy": "Immediate"},
                    "artifact": {"uri": f"file:///var/lib/ballast/{path.relative_to(store)}", "sha256": sha},
                },
            }
        )
    for name, reason in (("corrupted", "DigestMismatch"), ("pickled", "UntrustedArtifact")):
        refused = wait_for_condition(k, "modelversion", name, "Ready", statuses=("False",), timeout=60)
        assert condition(refused, "Ready")["reason"] == reason, condition(refused, "Ready")
        assert refused["status"]["stage"] == "Failed"
        assert not k.get_json("deployments", "-l", f"ballast.dev/model-version={name}")["items"]
    assert stage_of(k, good["metadata"]["name"]) == "Production"
    assert _post(endpoint, "/v2/models/iris/infer", valid)[0] == 200
