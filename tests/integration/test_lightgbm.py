"""The LightGBM family on the local cluster: the training pod fits lightgbm.LGBMClassifier in the
image, the version is registered with its card naming the family and LightGBM's version, the model
server loads it through Ballast's fixed trusted-type list, and its answers equal the stored
pipeline's on the same rows, bit for bit. A bad LightGBM value fails the run by name before
fitting; an estimator outside the family is refused by the API server."""

from __future__ import annotations

import json

import lightgbm
import numpy as np
import pandas as pd
import pytest

from ballast.api.dataset import DatasetSchema
from ballast.models.skops_format import load_model
from ballast.training.features import feature_columns, feature_frame
from tests.integration.test_serving import infer, production, serve_run
from tests.support.ballast_objects import (
    IRIS_COLUMNS,
    condition,
    iris_rows,
    run_ballast_on_store,
    training_run,
    wait_for_condition,
    with_iris_dataset,
)
from tests.support.kube import Kubectl, shared_store_dir, wait_for
from tests.support.traffic import ready_endpoints

ESTIMATOR = "lightgbm.LGBMClassifier"


@pytest.fixture
def k(kubectl: Kubectl, namespace: str, ballast_operator) -> Kubectl:
    return with_iris_dataset(kubectl.in_namespace(namespace))


def test_lightgbm_trains_registers_and_serves_as_the_stored_pipeline(k: Kubectl):
    outside = training_run("ranker", "iris", estimator="lightgbm.LGBMRanker")
    refused = k.run("apply", "-f", "-", input=json.dumps(outside), check=False)
    assert refused.returncode != 0 and "allow-listed estimators" in refused.stderr, refused.stderr

    k.apply(training_run("bad-leaves", "iris", estimator=ESTIMATOR, params={"num_leaves": 1}))
    k.apply(serve_run("boosted", ESTIMATOR, {"n_estimators": 30, "num_leaves": 7}))

    bad = condition(wait_for_condition(k, "trainingrun", "bad-leaves", "Succeeded"), "Succeeded")
    assert (bad["status"], bad["reason"]) == ("False", "InvalidEstimator"), bad
    assert "num_leaves" in bad["message"]

    trained = wait_for_condition(k, "trainingrun", "boosted", "Succeeded", timeout=300)
    assert condition(trained, "Succeeded")["status"] == "True", trained["status"]
    assert trained["status"]["params"]["deterministic"] is True and trained["status"]["params"]["n_jobs"] == 1
    name = trained["status"]["modelVersion"]
    version = production(k, name)
    artifact = version["spec"]["artifact"]
    stored = load_model(
        (shared_store_dir() / artifact["uri"].removeprefix("file:///var/lib/ballast/")).read_bytes(), artifact["sha256"]
    )
    assert isinstance(stored.steps[-1][1], lightgbm.LGBMClassifier)

    card = run_ballast_on_store(k.kubeconfig, "card", name, "-n", k.namespace)
    assert card.returncode == 0, card.stderr
    assert ESTIMATOR in card.stdout and f"lightgbm {lightgbm.__version__}" in card.stdout, card.stdout

    endpoint = wait_for(lambda: ready_endpoints(k, "iris"), timeout=120, message="a ready endpoint for iris")[0]
    rows = iris_rows()[::7]
    response = infer(endpoint, rows, timeout=10)
    outputs = {output["name"]: output["data"] for output in response["outputs"]}
    schema = DatasetSchema.model_validate({"columns": IRIS_COLUMNS, "target": "species"})
    local = feature_frame(pd.DataFrame(rows).drop(columns="species"), feature_columns(schema))
    assert outputs["predict"] == stored.predict(local).tolist()
    assert np.array_equal(
        np.asarray(outputs["predict_proba"], dtype=np.float64).reshape(len(rows), -1), stored.predict_proba(local)
    )
    # a model that learnt something: not a constant answer
    assert len(set(outputs["predict"])) == 3
