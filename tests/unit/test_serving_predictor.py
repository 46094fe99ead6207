"""The compiled predictor predicts bit-for-bit what the pipeline predicts, for every allow-listed estimator."""

from __future__ import annotations

import numpy as np
import pytest

from ballast.api.catalog import ESTIMATORS
from ballast.serving.linear import linear_outputs
from ballast.serving.predictor import CompiledPipeline, PipelinePredictor, build_predictor, same_prediction
from ballast.serving.tensors import FeatureBatch
from ballast.training import train_model
from ballast.training.features import feature_frame
from tests.unit.test_training_run import DATASET, diabetes, iris, mixed_classification, spec


def _batch(frame, columns) -> FeatureBatch:
    features = feature_frame(frame, columns)
    return FeatureBatch(
        rows=len(features),
        numeric=features[list(columns.numeric)].to_numpy(dtype=np.float64),
        categorical=features[list(columns.categorical)].to_numpy(dtype=object),
    )


@pytest.mark.parametrize("estimator", sorted(ESTIMATORS))
def test_compiled_equals_the_pipeline_on_a_dataframe(estimator: str) -> None:
    classifier = ESTIMATORS[estimator] == "classification"
    # Classifiers on numeric and categorical features with gaps; regressors on diabetes.
    frame, schema = mixed_classification() if classifier else diabetes()
    outcome = train_model(spec(estimator), frame, schema, DATASET)
    rows = frame.drop(columns="target")
    batch = _batch(rows, outcome.columns)
    compiled = CompiledPipeline(outcome.pipeline, outcome.columns, classifier).predict(batch)
    assert same_prediction(compiled, PipelinePredictor(outcome.pipeline, outcome.columns, classifier).predict(batch))
    np.testing.assert_array_equal(compiled.labels, outcome.pipeline.predict(feature_frame(rows, outcome.columns)))


def test_a_pipeline_of_another_shape_is_served_as_it_is() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    frame, schema = mixed_classification()
    outcome = train_model(spec("sklearn.linear_model.LogisticRegression", {}), frame, schema, DATASET)
    odd = Pipeline(
        [
            ("preprocess", outcome.pipeline.steps[0][1]),
            ("identity", FunctionTransformer()),
            ("model", LogisticRegression()),
        ]
    )
    odd.fit(feature_frame(frame.drop(columns="target"), outcome.columns), frame["target"])
    probe = _batch(frame.drop(columns="target").iloc[:5], outcome.columns)
    assert build_predictor(odd, outcome.columns, True, probe).kind == "pipeline"
    assert build_predictor(outcome.pipeline, outcome.columns, True, probe).kind == "compiled"


LINEAR = [
    ("sklearn.linear_model.LogisticRegression", {}),
    ("sklearn.linear_model.SGDClassifier", {"loss": "log_loss"}),
]


@pytest.mark.parametrize("data", ["iris", "mixed"])
@pytest.mark.parametrize(("estimator", "params"), LINEAR)
def test_linear_classifiers_answer_from_one_matrix_product_bit_for_bit(estimator: str, params: dict, data: str) -> None:
    # iris: three classes (softmax, or one-vs-rest normalised); mixed: two (the logistic of one score)
    frame, schema = iris() if data == "iris" else mixed_classification()
    outcome = train_model(spec(estimator, params), frame, schema, DATASET)
    batch = _batch(frame.drop(columns="target"), outcome.columns)
    compiled = CompiledPipeline(outcome.pipeline, outcome.columns, True)
    assert compiled._linear is not None
    assert same_prediction(
        compiled.predict(batch), PipelinePredictor(outcome.pipeline, outcome.columns, True).predict(batch)
    )


def test_linear_regressors_answer_from_one_matrix_product_and_other_losses_keep_their_own_methods() -> None:
    from sklearn.linear_model import SGDClassifier

    frame, schema = diabetes()
    for estimator in ("sklearn.linear_model.Ridge", "sklearn.linear_model.LinearRegression"):
        outcome = train_model(spec(estimator), frame, schema, DATASET)
        assert CompiledPipeline(outcome.pipeline, outcome.columns, False)._linear is not None
    huber = SGDClassifier(loss="modified_huber").fit(np.eye(3), [0, 1, 1])
    assert linear_outputs(huber) is None  # its probabilities are not the logistic of the scores


def test_an_infinite_feature_is_refused_as_scikit_learn_refuses_it() -> None:
    frame, schema = iris()
    outcome = train_model(spec("sklearn.linear_model.LogisticRegression", {}), frame, schema, DATASET)
    rows = frame.drop(columns="target").iloc[:2].copy()
    rows.iloc[1, 0] = np.inf
    batch = _batch(rows, outcome.columns)
    for predictor in (
        CompiledPipeline(outcome.pipeline, outcome.columns, True),
        PipelinePredictor(outcome.pipeline, outcome.columns, True),
    ):
        with pytest.raises(ValueError, match="infinity"):
            predictor.predict(batch)
