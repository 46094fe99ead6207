"""train_model end to end on scikit-learn's bundled data; other training tests reuse its helpers."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris

from ballast.api.catalog import CLASSIFICATION_METRICS, ESTIMATORS, REGRESSION_METRICS
from ballast.api.dataset import DatasetSchema
from ballast.api.trainingrun import TrainingRunSpec
from ballast.models.skops_format import load_model
from ballast.training import DatasetIdentity, InvalidTrainingData, train_model
from ballast.training.errors import InvalidEstimator
from ballast.training.estimators import estimator_class

REPO_ROOT = Path(__file__).resolve().parents[2]
DATASET = DatasetIdentity(name="bundled", sha256="a" * 64, snapshot_uri="file:///store/datasets/x/data.parquet")
FAST_PARAMS = {"n_estimators": 5, "max_iter": 20}


def fast_params(estimator: str) -> dict[str, Any]:
    known = estimator_class(estimator)().get_params()
    return {name: value for name, value in FAST_PARAMS.items() if name in known}


def _bundled(loader: Any, target_type: str) -> tuple[pd.DataFrame, DatasetSchema]:
    frame = loader(as_frame=True).frame.rename(columns=lambda c: c.replace(" ", "_").replace("(", "").replace(")", ""))
    columns = [{"name": c, "type": "float"} for c in frame.columns if c != "target"]
    schema = DatasetSchema.model_validate(
        {"columns": columns + [{"name": "target", "type": target_type}], "target": "target"}
    )
    return frame, schema


@cache
def iris() -> tuple[pd.DataFrame, DatasetSchema]:
    return _bundled(load_iris, "integer")


@cache
def breast_cancer() -> tuple[pd.DataFrame, DatasetSchema]:
    return _bundled(load_breast_cancer, "integer")


@cache
def diabetes() -> tuple[pd.DataFrame, DatasetSchema]:
    return _bundled(load_diabetes, "float")


@cache
def mixed_classification() -> tuple[pd.DataFrame, DatasetSchema]:
    """Breast cancer with a string, a category, a boolean and an integer column, and gaps everywhere."""
    frame, _ = breast_cancer()
    frame = frame[["mean_radius", "mean_texture", "mean_smoothness", "target"]].copy()
    rng = np.random.default_rng(1)
    n = len(frame)
    frame["clinic"] = rng.choice(["north", "south", "east"], n).astype(object)
    frame["grade"] = pd.Categorical(rng.choice(["I", "II", "III"], n))
    frame["smoker"] = pd.array(rng.random(n) > 0.7, dtype="boolean")
    frame["visits"] = pd.array(rng.integers(0, 9, n), dtype="Int64")
    for column in ("mean_radius", "clinic", "grade", "smoker", "visits"):
        frame.loc[rng.choice(n, 20, replace=False), column] = None
    types = {"clinic": "string", "grade": "category", "smoker": "boolean", "visits": "integer", "target": "integer"}
    schema = DatasetSchema.model_validate(
        {
            "columns": [{"name": c, "type": types.get(c, "float"), "nullable": True} for c in frame.columns],
            "target": "target",
        }
    )
    return frame, schema


def data_for(estimator: str) -> tuple[pd.DataFrame, DatasetSchema]:
    return breast_cancer() if ESTIMATORS[estimator] == "classification" else diabetes()


def spec(estimator: str, params: dict[str, Any] | None = None, seed: int = 3, **evaluation: Any) -> TrainingRunSpec:
    return TrainingRunSpec.model_validate(
        {
            "model": "demo",
            "datasetRef": {"name": "bundled"},
            "estimator": estimator,
            "seed": seed,
            "params": fast_params(estimator) if params is None else params,
            **({"evaluation": evaluation} if evaluation else {}),
        }
    )


@pytest.mark.parametrize("estimator", sorted(ESTIMATORS))
def test_every_allow_listed_estimator_trains_evaluates_and_round_trips(estimator: str) -> None:
    frame, schema = data_for(estimator)
    outcome = train_model(spec(estimator), frame, schema, DATASET)

    expected_metrics = CLASSIFICATION_METRICS if ESTIMATORS[estimator] == "classification" else REGRESSION_METRICS
    assert set(outcome.metrics) == set(expected_metrics)
    assert outcome.key_metric == ("accuracy" if ESTIMATORS[estimator] == "classification" else "rmse")
    loaded = load_model(outcome.artifact.data, outcome.artifact.sha256)
    test_rows = frame.drop(columns="target").iloc[:50]
    np.testing.assert_array_equal(loaded.predict(test_rows), outcome.pipeline.predict(test_rows))
    assert outcome.train_rows + outcome.test_rows == len(frame)
    if "random_state" in outcome.params:
        assert outcome.params["random_state"] == 3


def test_classifier_is_useful_on_breast_cancer() -> None:
    frame, schema = breast_cancer()
    outcome = train_model(spec("sklearn.linear_model.LogisticRegression", {}), frame, schema, DATASET)
    assert outcome.metrics["accuracy"] > 0.9
    assert outcome.metrics["roc_auc"] > 0.95


def test_mixed_column_types_with_missing_values_train_and_round_trip() -> None:
    frame, schema = mixed_classification()
    outcome = train_model(spec("sklearn.ensemble.HistGradientBoostingClassifier"), frame, schema, DATASET)
    assert outcome.columns.categorical == ("clinic", "grade", "smoker")
    assert outcome.columns.numeric == ("mean_radius", "mean_texture", "mean_smoothness", "visits")
    loaded = load_model(outcome.artifact.data, outcome.artifact.sha256)
    # A category never seen in training is ignored by the encoder, not an error.
    unseen = frame.drop(columns="target").iloc[:3].assign(clinic="west")
    from ballast.training.features import feature_frame

    assert len(loaded.predict(feature_frame(unseen, outcome.columns))) == 3


def test_test_split_is_stratified_for_classifiers() -> None:
    frame, schema = iris()
    outcome = train_model(spec("sklearn.naive_bayes.GaussianNB", {}, testFraction=0.2), frame, schema, DATASET)
    assert outcome.test_rows == 30
    # Stratified: every class keeps its share (10 of each 50 in iris) in the test split.
    from ballast.training.split import split_indices
    from ballast.training.target import labelled_rows

    rows = labelled_rows(frame, schema, "classification")
    split = split_indices(rows.target, 0.2, 3, stratify=True)
    assert rows.target.iloc[split.test].value_counts().tolist() == [10, 10, 10]


def test_string_labels_train_and_report_their_classes() -> None:
    frame, _ = iris()
    names = np.array(["setosa", "versicolor", "virginica"], dtype=object)
    labelled = frame.assign(target=names[frame["target"].to_numpy()])
    schema = DatasetSchema.model_validate(
        {
            "columns": [{"name": c, "type": "float"} for c in frame.columns if c != "target"]
            + [{"name": "target", "type": "category"}],
            "target": "target",
        }
    )
    outcome = train_model(spec("sklearn.tree.DecisionTreeClassifier", {}), labelled, schema, DATASET)
    assert outcome.classes == ["setosa", "versicolor", "virginica"]


def test_rows_without_a_target_are_dropped_and_counted() -> None:
    frame, schema = iris()
    gappy = frame.astype({"target": "float64"})
    gappy.loc[[0, 60, 120], "target"] = np.nan
    outcome = train_model(spec("sklearn.naive_bayes.GaussianNB", {}), gappy, schema, DATASET)
    assert outcome.dropped_rows == 3
    assert outcome.train_rows + outcome.test_rows == 147


def test_a_numeric_feature_holding_text_is_a_data_error() -> None:
    frame, schema = iris()
    broken = frame.astype({"sepal_length_cm": object})
    broken.loc[5, "sepal_length_cm"] = "five"
    with pytest.raises(InvalidTrainingData, match="sepal_length_cm"):
        train_model(spec("sklearn.naive_bayes.GaussianNB", {}), broken, schema, DATASET)


def test_a_class_with_one_row_cannot_be_stratified() -> None:
    frame, schema = iris()
    lonely = pd.concat([frame, frame.iloc[[0]].assign(target=7)], ignore_index=True)
    with pytest.raises(InvalidTrainingData, match="cannot split"):
        train_model(spec("sklearn.naive_bayes.GaussianNB", {}), lonely, schema, DATASET)


def test_a_regressor_needs_a_numeric_target() -> None:
    frame, _ = iris()
    schema = DatasetSchema.model_validate(
        {
            "columns": [{"name": c, "type": "float"} for c in frame.columns if c != "target"]
            + [{"name": "target", "type": "category"}],
            "target": "target",
        }
    )
    with pytest.raises(InvalidTrainingData, match="numeric target"):
        train_model(spec("sklearn.linear_model.Ridge", {}), frame.astype({"target": str}), schema, DATASET)


def test_a_classifier_without_class_probabilities_is_refused_before_fitting() -> None:
    frame, schema = breast_cancer()
    sgd = "sklearn.linear_model.SGDClassifier"
    outcome = train_model(spec(sgd, {"max_iter": 20}), frame, schema, DATASET)
    assert outcome.params["loss"] == "log_loss"  # Ballast's default, recorded as fitted
    with pytest.raises(InvalidEstimator, match="gives no class probabilities .* 'log_loss' .* 'modified_huber'"):
        train_model(spec(sgd, {"loss": "hinge"}), frame, schema, DATASET)
