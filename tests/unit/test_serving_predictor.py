"""The compiled predictor predicts bit-for-bit what the pipeline predicts, for every allow-listed estimator."""

from __future__ import annotations

import numpy as np
import pytest

from ballast.api.catalog import ESTIMATORS
from ballast.serving.predictor import CompiledPipeline, PipelinePredictor, build_predictor, same_prediction
from ballast.serving.tensors import FeatureBatch
from ballast.training import train_model
from ballast.training.features import feature_frame
from tests.unit.test_training_run import DATASET, diabetes, mixed_classification, spec


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
