"""The LightGBM family: pinned for reproducibility, its values checked before fitting, its
artifact loaded only through Ballast's fixed trusted-type list, its version in the record.

The same-spec-same-sha256 (in this process and in another) and the serving-equals-training
tests run for LightGBM too, through their parametrisation over the whole allow-list
(test_training_reproducibility.py, test_serving_predictor.py, test_models_trusted_types.py).
"""

from __future__ import annotations

from importlib import metadata

import lightgbm
import numpy as np
import pytest
import skops.io
from sklearn.pipeline import Pipeline

from ballast.models.digest import sha256_hex
from ballast.models.errors import UntrustedArtifact
from ballast.models.skops_format import check_artifact_types, load_model, serialize_model
from ballast.training import InvalidEstimator, train_model
from ballast.training.estimators import build_estimator
from ballast.training.features import feature_frame
from ballast.training.lightgbm_params import PINNED_PARAMS
from tests.unit.test_training_run import DATASET, breast_cancer, diabetes, iris, spec

CLASSIFIER = "lightgbm.LGBMClassifier"
REGRESSOR = "lightgbm.LGBMRegressor"


@pytest.fixture
def fitting_forbidden(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args, **_kwargs):
        raise AssertionError("fit was called although the spec is invalid")

    monkeypatch.setattr(Pipeline, "fit", refuse)


def test_ballast_pins_determinism_threads_and_the_seed() -> None:
    estimator = build_estimator(CLASSIFIER, {"num_leaves": 7}, seed=42)
    params = estimator.get_params()
    assert isinstance(estimator, lightgbm.LGBMClassifier)
    assert {name: params[name] for name in PINNED_PARAMS} == PINNED_PARAMS
    assert params["deterministic"] is True and params["n_jobs"] == 1
    assert params["random_state"] == 42 and params["num_leaves"] == 7


def test_every_bad_value_is_named_before_fitting(fitting_forbidden: None) -> None:
    frame, schema = breast_cancer()
    bad = {
        "num_leaves": 1,
        "learning_rate": -0.1,
        "boosting_type": "goss",
        "n_estimators": "10",
        "num_leave": 4,
        "n_jobs": 8,
        "deterministic": False,
    }
    with pytest.raises(InvalidEstimator) as caught:
        train_model(spec(CLASSIFIER, bad), frame, schema, DATASET)
    problems = caught.value.problems
    assert len(problems) == 7, problems
    message = str(caught.value)
    assert "unknown parameter 'num_leave' (did you mean 'num_leaves'?)" in message
    assert "'n_jobs' is set by Ballast to 1" in message and "'deterministic' is set by Ballast to True" in message
    assert "'num_leaves': Input should be greater than or equal to 2 (got 1)" in message
    assert "'learning_rate': Input should be greater than 0" in message
    assert "'boosting_type'" in message and "'n_estimators': Input should be a valid integer" in message


def test_random_state_comes_from_the_seed_only(fitting_forbidden: None) -> None:
    frame, schema = breast_cancer()
    with pytest.raises(InvalidEstimator, match="set from spec.seed"):
        train_model(spec(CLASSIFIER, {"random_state": 1}), frame, schema, DATASET)


def test_the_recorded_params_rebuild_the_same_model() -> None:
    """status.params holds the pinned values too; replayed, they are accepted and change nothing."""
    first = train_model(spec(REGRESSOR, {"n_estimators": 8}, seed=4), *diabetes(), DATASET)
    replayed = {k: v for k, v in first.params.items() if k != "random_state"}
    assert replayed["deterministic"] is True
    again = train_model(spec(REGRESSOR, replayed, seed=4), *diabetes(), DATASET)
    assert again.artifact.sha256 == first.artifact.sha256


def test_the_seed_reaches_lightgbms_sampling() -> None:
    """With bagging the seed decides the rows each tree sees: the seed is really LightGBM's."""
    bagging = {"n_estimators": 10, "subsample": 0.5, "subsample_freq": 1, "colsample_bytree": 0.5}
    digests = {
        train_model(spec(CLASSIFIER, bagging, seed=s), *breast_cancer(), DATASET).artifact.sha256 for s in (1, 2)
    }
    assert len(digests) == 2


def test_multiclass_artifact_loads_with_the_fixed_list_and_predicts_as_trained() -> None:
    frame, schema = iris()
    outcome = train_model(spec(CLASSIFIER, {"n_estimators": 10}), frame, schema, DATASET)
    loaded = load_model(outcome.artifact.data, outcome.artifact.sha256)
    assert isinstance(loaded.steps[-1][1], lightgbm.LGBMClassifier)
    features = feature_frame(frame.drop(columns="target"), outcome.columns)
    np.testing.assert_array_equal(loaded.predict_proba(features), outcome.pipeline.predict_proba(features))
    assert {"lightgbm.basic.Booster", "lightgbm.sklearn.LGBMClassifier"} <= check_artifact_types(outcome.artifact.data)


def test_skops_itself_does_not_trust_lightgbm_without_ballasts_list() -> None:
    outcome = train_model(spec(CLASSIFIER, {"n_estimators": 3}), *breast_cancer(), DATASET)
    with pytest.raises(skops.io.exceptions.UntrustedTypesFoundException):
        skops.io.loads(outcome.artifact.data)
    assert "lightgbm.basic.Booster" in skops.io.get_untrusted_types(data=outcome.artifact.data)


def test_a_lightgbm_type_outside_the_family_is_refused() -> None:
    """Only the two estimators and their Booster are listed: LightGBM's ranker, which skops could
    build as well, is refused before anything is built."""
    rng = np.random.default_rng(0)
    ranker = lightgbm.LGBMRanker(n_estimators=2, verbose=-1).fit(
        rng.random((40, 3)), rng.integers(0, 3, 40), group=[20, 20]
    )
    data = serialize_model(ranker).data
    with pytest.raises(UntrustedArtifact) as caught:
        load_model(data, sha256_hex(data))
    assert "lightgbm.sklearn.LGBMRanker" in caught.value.untrusted_types


def test_the_record_names_the_family_and_its_version() -> None:
    outcome = train_model(spec(REGRESSOR, {"n_estimators": 3}), *diabetes(), DATASET)
    record = outcome.reproducibility
    assert record["estimator"] == REGRESSOR
    assert record["packages"]["lightgbm"] == metadata.version("lightgbm") == lightgbm.__version__
    assert record["params"]["deterministic"] is True and record["params"]["force_row_wise"] is True
