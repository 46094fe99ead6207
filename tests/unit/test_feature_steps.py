"""Declared feature steps: each step's arithmetic, the API's refusals, the run-time checks against the
schema, reproducibility, the trusted-type load, and serving's answer against training's pipeline."""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from ballast.api.dataset import DatasetSchema
from ballast.api.feature_steps import FeatureStep
from ballast.api.trainingrun import TrainingRunSpec
from ballast.cards.content import model_card
from ballast.cards.markdown import render_markdown
from ballast.models.skops_format import load_model
from ballast.serving.predictor import PipelinePredictor, build_predictor, same_prediction
from ballast.serving.tensors import FeatureBatch
from ballast.training import InvalidTrainingData, train_model
from ballast.training.features import FeatureColumns, feature_frame
from ballast.training.preprocessing import build_preprocessor, describe_preprocessing
from ballast.training.report import artifact_metadata
from tests.unit.test_training_run import DATASET, mixed_classification

LOGISTIC = "sklearn.linear_model.LogisticRegression"
STEPS = [
    {"log": {"columns": ["mean_texture"]}},
    {"clip": {"columns": ["mean_texture"], "max": 3.2}},
    {"bucket": {"columns": ["mean_smoothness"], "edges": [0.08, 0.1, 0.12]}},
    {"minMaxScale": {"columns": ["visits"]}},
    {"ratio": {"name": "texture_per_radius", "numerator": "mean_texture", "denominator": "mean_radius"}},
    {"dateParts": {"column": "seen", "parts": ["year", "month", "dayOfWeek", "hour"]}},
]


def _steps(raw: list[dict[str, Any]]) -> list[FeatureStep]:
    return [FeatureStep.model_validate(step) for step in raw]


def _fitted_block(raw_step: dict[str, Any], frame: pd.DataFrame, numeric: tuple[str, ...], categorical=()) -> Any:
    columns = FeatureColumns(numeric=numeric, categorical=tuple(categorical), target="y")
    preprocessor = build_preprocessor(columns, scale=False, feature_steps=_steps([raw_step]))
    return preprocessor.fit(feature_frame(frame, columns)), columns


@pytest.mark.parametrize(
    "step, values, expected",
    [
        ({"log": {"columns": ["x"]}}, [0.0, np.e - 1, np.nan], [0.0, 1.0, np.log1p((np.e - 1) / 2)]),
        ({"clip": {"columns": ["x"], "min": 1.0, "max": 2.0}}, [0.0, 1.5, 9.0], [1.0, 1.5, 2.0]),
        ({"clip": {"columns": ["x"], "min": 1.0}}, [0.0, 1.5, 9.0], [1.0, 1.5, 9.0]),
        ({"bucket": {"columns": ["x"], "edges": [1.0, 2.0]}}, [0.5, 1.0, 2.5], [0.0, 1.0, 2.0]),
        ({"standardScale": {"columns": ["x"]}}, [1.0, 2.0, 3.0], [-1.224744871391589, 0.0, 1.224744871391589]),
        ({"minMaxScale": {"columns": ["x"]}}, [2.0, 4.0, 3.0], [0.0, 1.0, 0.5]),
    ],
)
def test_a_column_step_transforms_known_rows(step: dict[str, Any], values: list[float], expected: list[float]) -> None:
    # A missing value is imputed (the training median) before the step, as in the log row.
    preprocessor, columns = _fitted_block(step, pd.DataFrame({"x": values}), ("x",))
    out = preprocessor.transform(feature_frame(pd.DataFrame({"x": values}), columns))
    np.testing.assert_allclose(out[:, 0], expected, rtol=0, atol=1e-12)


def test_a_ratio_is_added_beside_its_columns_and_a_zero_denominator_is_imputed() -> None:
    frame = pd.DataFrame({"a": [6.0, 1.0, 5.0], "b": [3.0, 0.0, 2.0]})
    step = {"ratio": {"name": "a_per_b", "numerator": "a", "denominator": "b"}}
    preprocessor, columns = _fitted_block(step, frame, ("a", "b"))
    out = preprocessor.transform(feature_frame(frame, columns))
    np.testing.assert_array_equal(out, [[6.0, 3.0, 2.0], [1.0, 0.0, 2.25], [5.0, 2.0, 2.5]])


def test_date_parts_replace_the_date_column_and_read_offsets_as_utc() -> None:
    frame = pd.DataFrame({"n": [1.0, 2.0, 3.0], "seen": ["2024-03-04T05:06:07", "2023-12-31T23:30:00-02:00", None]})
    step = {"dateParts": {"column": "seen", "parts": ["year", "month", "day", "dayOfWeek", "hour"]}}
    preprocessor, columns = _fitted_block(step, frame, ("n",), ("seen",))
    out = preprocessor.transform(feature_frame(frame, columns))
    # 2024-03-04 is a Monday (0); -02:00 moves 2023-12-31 23:30 to Monday 2024-01-01 01:30 UTC.
    np.testing.assert_array_equal(out[:2], [[1.0, 2024, 3, 4, 0, 5], [2.0, 2024, 1, 1, 0, 1]])
    np.testing.assert_array_equal(out[2], [3.0, 2024, 2, 2.5, 0, 3])  # missing date: each part's median


@pytest.mark.parametrize(
    "step",
    [
        {},
        {"log": {"columns": ["a"]}, "clip": {"columns": ["a"], "max": 1}},
        {"sqrt": {"columns": ["a"]}},
        {"bucket": {"columns": ["a"], "edges": [2.0, 1.0]}},
        {"bucket": {"columns": ["a"], "edges": [1.0, 1.0]}},
        {"dateParts": {"column": "d", "parts": ["week"]}},
        {"ratio": {"name": "a/b", "numerator": "a", "denominator": "b"}},
        {"ratio": {"name": "r", "numerator": "a", "denominator": "b", "expression": "a / b"}},
        {"clip": {"columns": ["a"]}},
        {"clip": {"columns": ["a"], "min": 2.0, "max": 1.0}},
        {"log": {"columns": []}},
    ],
)
def test_invalid_step_shapes_are_refused(step: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        FeatureStep.model_validate(step)


@cache
def mixed_with_dates() -> tuple[pd.DataFrame, DatasetSchema]:
    frame, schema = mixed_classification()
    seen = pd.date_range("2023-01-01", periods=len(frame), freq="13h").strftime("%Y-%m-%dT%H:%M:%S").to_numpy(object)
    seen[::17] = None
    wire = schema.to_wire()
    return frame.assign(seen=seen), DatasetSchema.model_validate(
        {**wire, "columns": [*wire["columns"], {"name": "seen", "type": "string", "nullable": True}]}
    )


def _spec(steps: list[dict[str, Any]], estimator: str = LOGISTIC) -> TrainingRunSpec:
    return TrainingRunSpec.model_validate(
        {"model": "demo", "datasetRef": {"name": "bundled"}, "estimator": estimator, "featureSteps": steps}
    )


@pytest.mark.parametrize(
    "steps, message",
    [
        ([{"log": {"columns": ["income"]}}], "featureSteps[0].log: column 'income' is not a feature"),
        ([{"log": {"columns": ["clinic"]}}], "featureSteps[0].log: column 'clinic' must be numeric"),
        (
            [{"ratio": {"name": "visits", "numerator": "visits", "denominator": "mean_radius"}}],
            "featureSteps[0].ratio: the name 'visits' is already a feature's",
        ),
        ([{"dateParts": {"column": "visits", "parts": ["year"]}}], "column 'visits' must be a string column of dates"),
        ([{"dateParts": {"column": "clinic", "parts": ["year"]}}], "column 'clinic' holds no ISO 8601 date"),
        ([{"clip": {"columns": ["mean_radius"], "max": 1}}, {"log": {"columns": ["mean_radius"]}}], None),
    ],
)
def test_steps_that_do_not_fit_the_schema_fail_the_run_naming_the_step(steps, message) -> None:
    frame, schema = mixed_with_dates()
    if message is None:  # a clip before a log on the same column is fine: the chain runs in order
        assert train_model(_spec(steps), frame, schema, DATASET).passed
        return
    with pytest.raises(InvalidTrainingData, match=message.replace("[", r"\[").replace("]", r"\]")):
        train_model(_spec(steps), frame, schema, DATASET)


def test_a_log_of_negative_training_values_is_refused() -> None:
    frame, schema = mixed_with_dates()
    shifted = frame.assign(mean_radius=frame["mean_radius"] - 10)
    with pytest.raises(
        InvalidTrainingData, match=r"featureSteps\[0\].log: column\(s\) mean_radius hold values below 0"
    ):
        train_model(_spec([{"log": {"columns": ["mean_radius"]}}]), shifted, schema, DATASET)


@cache
def declared_outcome(estimator: str = LOGISTIC) -> Any:
    frame, schema = mixed_with_dates()
    return train_model(_spec(STEPS, estimator), frame, schema, DATASET)


def test_the_same_steps_give_the_same_sha256_and_other_steps_another() -> None:
    frame, schema = mixed_with_dates()
    again = train_model(_spec(STEPS), frame, schema, DATASET)
    assert again.artifact.sha256 == declared_outcome().artifact.sha256
    fewer = train_model(_spec(STEPS[:-1]), frame, schema, DATASET)
    assert fewer.artifact.sha256 != declared_outcome().artifact.sha256


def test_the_artifact_loads_with_the_fixed_trusted_list_and_predicts_the_same() -> None:
    outcome = declared_outcome()
    loaded = load_model(outcome.artifact.data, outcome.artifact.sha256)
    frame, _ = mixed_with_dates()
    rows = feature_frame(frame, outcome.columns)
    np.testing.assert_array_equal(loaded.predict_proba(rows), outcome.pipeline.predict_proba(rows))


def test_the_recorded_pipeline_names_each_step_and_function_by_import_path() -> None:
    groups = {group["name"]: group for group in describe_preprocessing(declared_outcome().pipeline)}
    assert groups["numeric"]["columns"] == ["mean_radius"]
    assert "seen" not in groups["categorical"]["columns"]
    texture = groups["steps:mean_texture"]["steps"]
    assert [step["name"] for step in texture] == ["impute", "log1", "clip2", "scale"]
    assert texture[1]["params"]["func"] == "numpy.log1p"
    assert groups["ratio:texture_per_radius"]["columns"] == ["mean_texture", "mean_radius"]
    assert groups["ratio:texture_per_radius"]["steps"][0]["params"]["func"] == "ballast.models.feature_functions.ratio"
    assert groups["dateParts:seen"]["steps"][0]["params"]["kw_args"] == {
        "parts": ["year", "month", "dayOfWeek", "hour"]
    }
    visits = groups["steps:visits"]["steps"]
    assert [step["class"] for step in visits] == ["sklearn.impute.SimpleImputer", "sklearn.preprocessing.MinMaxScaler"]


@pytest.mark.parametrize("estimator", [LOGISTIC, "sklearn.ensemble.RandomForestClassifier"])
def test_serving_answers_exactly_what_training_s_pipeline_predicts(estimator: str) -> None:
    outcome = declared_outcome(estimator)
    frame, _ = mixed_with_dates()
    rows = frame.drop(columns="target")
    features = feature_frame(rows, outcome.columns)
    # What the server receives: the raw feature columns only, as its tensors decode them.
    batch = FeatureBatch(
        rows=len(features),
        numeric=features[list(outcome.columns.numeric)].to_numpy(dtype=np.float64),
        categorical=features[list(outcome.columns.categorical)].to_numpy(dtype=object),
    )
    loaded = load_model(outcome.artifact.data, outcome.artifact.sha256)
    served = build_predictor(loaded, outcome.columns, True, batch)
    answer = served.predict(batch)
    assert served.kind == "pipeline"
    np.testing.assert_array_equal(answer.labels, outcome.pipeline.predict(features))
    np.testing.assert_array_equal(answer.probabilities, outcome.pipeline.predict_proba(features))
    assert same_prediction(answer, PipelinePredictor(outcome.pipeline, outcome.columns, True).predict(batch))


def test_lineage_and_the_model_card_record_the_declared_steps_and_their_fitted_form() -> None:
    outcome = declared_outcome()
    metadata = artifact_metadata(
        outcome, model="demo", artifact_uri="file:///s/model.skops", dataset=DATASET, training_run=None, champion=None
    )
    assert metadata["lineage"]["featureSteps"] == STEPS
    text = render_markdown(model_card(metadata))
    assert "Declared feature steps, in order:" in text
    assert (
        '- {"ratio": {"denominator": "mean_radius", "name": "texture_per_radius", "numerator": "mean_texture"}}' in text
    )
    assert (
        "- ratio:texture_per_radius [mean_texture, mean_radius]: ratio (sklearn.preprocessing.FunctionTransformer"
        in text
    )
    assert '"func": "ballast.models.feature_functions.ratio"' in text
    plain = train_model(_spec([]), *mixed_with_dates(), DATASET)
    plain_metadata = artifact_metadata(
        plain, model="demo", artifact_uri="file:///s/model.skops", dataset=DATASET, training_run=None, champion=None
    )
    assert "Declared feature steps: none" in render_markdown(model_card(plain_metadata))
