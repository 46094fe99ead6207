"""A TrainingRun with declared feature steps on the local cluster: the training pod fits them into
the artifact, the model server applies them to raw features, and its answer equals the stored
pipeline's on the same rows, bit for bit. The API server refuses a malformed step naming it."""

from __future__ import annotations

import json
import urllib.request

import numpy as np
import pandas as pd
import pytest

from ballast.api.dataset import DatasetSchema
from ballast.models.skops_format import load_model
from ballast.training.features import feature_columns, feature_frame
from tests.support.ballast_objects import condition, wait_for_condition
from tests.support.kube import Kubectl, shared_store_dir, wait_for
from tests.support.shifting_cluster import production_version
from tests.support.traffic import ready_endpoints

MODEL = "loans"
COLUMNS = [
    {"name": "income", "type": "float"},
    {"name": "debt", "type": "float"},
    {"name": "applied", "type": "string"},
    {"name": "repaid", "type": "integer"},
]
STEPS = [
    {"log": {"columns": ["income"]}},
    {"ratio": {"name": "debt_to_income", "numerator": "debt", "denominator": "income"}},
    {"dateParts": {"column": "applied", "parts": ["month", "dayOfWeek", "hour"]}},
]


def loan_rows(count: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    income = rng.lognormal(10.5, 0.4, count)
    debt = income * rng.uniform(0.05, 0.8, count)
    applied = pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 365 * 24, count), unit="h")
    return [
        {"income": round(float(i), 2), "debt": round(float(d), 2), "applied": t.isoformat(), "repaid": int(d / i < 0.4)}
        for i, d, t in zip(income, debt, applied, strict=True)
    ]


def _run(name: str, steps: list[dict]) -> dict:
    return {
        "apiVersion": "ballast.dev/v1alpha1",
        "kind": "TrainingRun",
        "metadata": {"name": name},
        "spec": {
            "model": MODEL,
            "datasetRef": {"name": MODEL},
            "estimator": "sklearn.linear_model.LogisticRegression",
            "params": {"max_iter": 500},
            "seed": 3,
            "activeDeadlineSeconds": 300,
            "backoffLimit": 0,
            "featureSteps": steps,
            "modelVersionTemplate": {"serving": {"replicas": 1}, "rollout": {"strategy": "Immediate"}},
        },
    }


def _infer(endpoint: str, rows: list[dict]) -> dict:
    def tensor(name: str) -> dict:
        text = name == "applied"
        return {
            "name": name,
            "shape": [len(rows)],
            "datatype": "BYTES" if text else "FP64",
            "data": [row[name] if text else float(row[name]) for row in rows],
        }

    body = {"inputs": [tensor(name) for name in ("income", "debt", "applied")]}
    request = urllib.request.Request(
        f"http://{endpoint}/v2/models/{MODEL}/infer",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return {output["name"]: output["data"] for output in json.loads(response.read())["outputs"]}


@pytest.fixture
def k(kubectl: Kubectl, namespace: str, ballast_operator) -> Kubectl:
    return kubectl.in_namespace(namespace)


def test_declared_steps_train_serve_and_answer_as_the_stored_pipeline(k: Kubectl, namespace: str):
    schema = {"columns": COLUMNS, "target": "repaid"}
    k.apply(
        {
            "apiVersion": "ballast.dev/v1alpha1",
            "kind": "Dataset",
            "metadata": {"name": MODEL},
            "spec": {"source": {"inline": {"rows": loan_rows(300, seed=1)}}, "schema": schema},
        }
    )
    assert condition(wait_for_condition(k, "dataset", MODEL, "Ready"), "Ready")["status"] == "True"

    refused = k.run(
        "apply",
        "-f",
        "-",
        input=json.dumps(_run("malformed", [{"log": {"columns": ["income"]}, "ratio": STEPS[1]["ratio"]}])),
        check=False,
    )
    assert refused.returncode != 0 and "featureSteps[0]" in refused.stderr, refused.stderr
    assert "a feature step sets exactly one of" in refused.stderr

    k.apply(_run("declared", STEPS))
    run = wait_for_condition(k, "trainingrun", "declared", "Succeeded")
    assert condition(run, "Succeeded")["status"] == "True", run["status"]
    version = run["status"]["modelVersion"]
    wait_for(lambda: production_version(k) == version, timeout=120, interval=1, message="the version in Production")
    endpoint = wait_for(lambda: ready_endpoints(k, MODEL), timeout=120, message="a ready endpoint")[0]

    sha = run["status"]["artifact"]["sha256"]
    [path] = [p for p in (shared_store_dir() / namespace).rglob("model.skops") if p.parent.name == sha]
    stored = load_model(path.read_bytes(), sha)
    metadata = json.loads((path.parent / "metadata.json").read_text())
    assert metadata["lineage"]["featureSteps"] == STEPS

    rows = loan_rows(12, seed=99)
    answer = _infer(endpoint, rows)
    local = feature_frame(pd.DataFrame(rows), feature_columns(DatasetSchema.model_validate(schema)))
    assert answer["predict"] == stored.predict(local).tolist()
    assert np.array_equal(
        np.asarray(answer["predict_proba"], dtype=np.float64).reshape(len(rows), -1), stored.predict_proba(local)
    )
