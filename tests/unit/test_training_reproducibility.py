"""Same spec + same data + same seed -> the same artifact sha256, in this process and in another.

The other process gets a different hash seed and a single OpenMP thread, so neither string
hashing nor the machine's CPU count may leak into the bytes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import cache

import pytest

import ballast
from ballast.api.catalog import ESTIMATORS
from ballast.training import train_model
from ballast.training.reproducibility import KEY_PACKAGES
from tests.unit.test_training_run import DATASET, REPO_ROOT, data_for, mixed_classification, spec

CHILD = """
import json, sys
from ballast.api.catalog import ESTIMATORS
from ballast.training import train_model
from tests.unit.test_training_run import DATASET, data_for, mixed_classification, spec
digests = {e: train_model(spec(e), *data_for(e), DATASET).artifact.sha256 for e in sorted(ESTIMATORS)}
digests["mixed"] = train_model(spec("sklearn.ensemble.HistGradientBoostingClassifier"), *mixed_classification(),
                               DATASET).artifact.sha256
json.dump(digests, sys.stdout)
"""


@cache
def digests_in_another_process() -> dict[str, str]:
    env = {**os.environ, "PYTHONHASHSEED": "12345", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", CHILD], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("estimator", sorted(ESTIMATORS))
def test_training_twice_gives_the_same_sha256(estimator: str) -> None:
    first = train_model(spec(estimator), *data_for(estimator), DATASET)
    second = train_model(spec(estimator), *data_for(estimator), DATASET)
    assert first.artifact.sha256 == second.artifact.sha256
    assert first.artifact.data == second.artifact.data
    assert first.artifact.sha256 == digests_in_another_process()[estimator]


def test_mixed_columns_give_the_same_sha256_in_another_process() -> None:
    outcome = train_model(spec("sklearn.ensemble.HistGradientBoostingClassifier"), *mixed_classification(), DATASET)
    assert outcome.artifact.sha256 == digests_in_another_process()["mixed"]


def test_a_different_seed_gives_a_different_model() -> None:
    estimator = "sklearn.ensemble.RandomForestClassifier"
    assert (
        train_model(spec(estimator, seed=1), *data_for(estimator), DATASET).artifact.sha256
        != train_model(spec(estimator, seed=2), *data_for(estimator), DATASET).artifact.sha256
    )


def test_the_record_holds_what_is_needed_to_train_again() -> None:
    estimator = "sklearn.ensemble.GradientBoostingClassifier"
    environment = {"BALLAST_IMAGE": "ghcr.io/ballast/ballast:0.1.0", "BALLAST_IMAGE_DIGEST": "sha256:" + "b" * 64}
    outcome = train_model(spec(estimator, seed=11), *data_for(estimator), DATASET, environment=environment)
    record = outcome.reproducibility
    assert record["datasetName"] == "bundled" and record["datasetSha256"] == "a" * 64
    assert record["seed"] == 11 and record["estimator"] == estimator
    assert record["params"]["n_estimators"] == 5 and record["params"]["random_state"] == 11
    assert record["params"]["learning_rate"] == 0.1  # defaults are recorded too
    assert record["ballastVersion"] == ballast.__version__
    assert record["pythonVersion"] == ".".join(map(str, sys.version_info[:3]))
    assert set(record["packages"]) == set(KEY_PACKAGES)
    assert record["image"] == environment["BALLAST_IMAGE"]
    assert record["imageDigest"] == environment["BALLAST_IMAGE_DIGEST"]
    assert record["metrics"] == outcome.metrics
    json.dumps(record, allow_nan=False)


def test_the_recorded_params_rebuild_the_same_model() -> None:
    estimator = "sklearn.ensemble.ExtraTreesRegressor"
    first = train_model(spec(estimator, seed=4), *data_for(estimator), DATASET)
    replayed = {k: v for k, v in first.params.items() if k != "random_state"}
    again = train_model(spec(estimator, params=replayed, seed=4), *data_for(estimator), DATASET)
    assert again.artifact.sha256 == first.artifact.sha256
