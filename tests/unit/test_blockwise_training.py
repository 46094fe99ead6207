"""Blockwise training (ballast.training.blockwise) in one process: the blocks, the hashed split,
the merged statistics and the preprocessing fitted from them, and whole runs whose model bytes
must not depend on how the rows were stored or in which order the blocks were worked on."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import SGDClassifier, SGDRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from ballast.api.dataset import DatasetSchema
from ballast.api.trainingrun import Evaluation, TrainingRunSpec
from ballast.models.skops_format import load_model, serialize_model
from ballast.training import train_model
from ballast.training.blockwise.fitted_preprocessing import fitted_preprocessor
from ballast.training.blockwise.hashed_split import held_out
from ballast.training.blockwise.orchestrate import BlockwiseFit, InProcess, train_blockwise
from ballast.training.blockwise.outcome import blockwise_outcome
from ballast.training.blockwise.plan import Block, PartRange, block_plan, part_ranges
from ballast.training.blockwise.stats import Moments, merged
from ballast.training.blockwise.steps import block_stats, labelled_block
from ballast.training.errors import InvalidTrainingData
from ballast.training.estimators import build_estimator
from ballast.training.features import feature_columns, feature_frame
from ballast.training.judgement import judge
from ballast.training.report import training_result
from tests.unit.test_training_run import DATASET, breast_cancer, diabetes, mixed_classification, spec

T = TypeVar("T")


def test_blocks_are_row_ranges_whatever_the_parts() -> None:
    assert block_plan([5, 3, 4], block_rows=5) == [Block(0, 0, 5), Block(1, 5, 10), Block(2, 10, 12)]
    assert part_ranges(Block(1, 5, 10), [5, 3, 4]) == [PartRange(1, 0, 3), PartRange(2, 0, 2)]
    assert part_ranges(Block(0, 0, 5), [2, 2, 2, 2]) == [PartRange(0, 0, 2), PartRange(1, 0, 2), PartRange(2, 0, 1)]
    assert block_plan([], block_rows=5) == []
    with pytest.raises(ValueError, match="block_rows must be positive"):
        block_plan([1], block_rows=0)


def test_the_hashed_split_holds_out_the_fraction_by_row_number_and_seed() -> None:
    rows = np.arange(200_000)
    test = held_out(rows, seed=7, test_fraction=0.2)
    assert abs(test.mean() - 0.2) < 0.005
    # a row's side depends on its number alone, not on the rows asked about with it
    assert np.array_equal(held_out(rows[1000:3000], 7, 0.2), test[1000:3000])
    other_seed = held_out(rows, seed=8, test_fraction=0.2)
    assert 0.25 < (other_seed != test).mean() < 0.40  # independent draws differ on 2 * 0.2 * 0.8 = 32%


def test_moments_merge_exactly_in_any_grouping() -> None:
    values = np.random.default_rng(0).normal(1e6, 3.0, 10_001)
    values[::97] = np.nan
    whole = Moments.of(values)
    pieces = [Moments.of(chunk) for chunk in np.array_split(values, 13)]
    left = pieces[0]
    for piece in pieces[1:]:
        left = left.merge(piece)
    present = values[~np.isnan(values)]
    for moments in (whole, left):
        assert moments.count == len(present)
        assert moments.mean == pytest.approx(present.mean(), rel=1e-12)
        assert moments.m2 / moments.count == pytest.approx(present.var(), rel=1e-9)


def frame_blocks(frame: pd.DataFrame, schema: DatasetSchema, task: str, block_rows: int, seed: int = 3):
    columns = feature_columns(schema)
    blocks = block_plan([len(frame)], block_rows)

    def load(block: Block):
        rows = frame.iloc[block.start : block.stop].reset_index(drop=True)
        return labelled_block(rows, block.start, schema, columns, task, seed=seed, test_fraction=0.2)

    return columns, blocks, load


def test_preprocessing_fitted_from_merged_statistics_transforms_as_one_fitted_on_all_training_rows() -> None:
    frame, schema = mixed_classification()
    columns, blocks, load = frame_blocks(frame, schema, "classification", block_rows=50)
    stats = merged(block_stats(load(block), columns, "classification") for block in blocks)
    preprocessor = fitted_preprocessor(stats, columns, scale=True)

    train = pd.concat([load(b).features.loc[~load(b).test] for b in blocks], ignore_index=True)
    assert stats.train_rows == len(train) and stats.test_rows + len(train) == frame["target"].notna().sum()
    reference = Pipeline([("impute", SimpleImputer(strategy="mean")), ("scale", StandardScaler())])
    reference.fit(train[list(columns.numeric)])
    transformed = preprocessor.transform(train)
    numeric = len(columns.numeric)
    np.testing.assert_allclose(transformed[:, :numeric], reference.transform(train[list(columns.numeric)]), atol=1e-9)
    onehot = preprocessor.named_transformers_["categorical"].named_steps["onehot"]
    for name, categories in zip(columns.categorical, onehot.categories_, strict=True):
        assert list(categories) == sorted(train[name].dropna().unique())
    # every row one-hot: exactly one 1 per categorical column (gaps take the most frequent value)
    assert (transformed[:, numeric:].sum(axis=1) == len(columns.categorical)).all()
    assert isinstance(preprocessor, ColumnTransformer)


def run(frame, schema, task, estimator, *, block_rows=100, engine=None, seed=3, epochs=5) -> BlockwiseFit:
    columns, blocks, load = frame_blocks(frame, schema, task, block_rows, seed)
    return train_blockwise(
        blocks, load, engine or InProcess(), estimator=estimator, columns=columns, task=task, scale=True,
        seed=seed, epochs=epochs,
    )  # fmt: skip


def test_a_blockwise_classifier_learns_saves_and_loads_like_a_single_pod_one() -> None:
    frame, schema = breast_cancer()
    fit = run(frame, schema, "classification", SGDClassifier(loss="log_loss", random_state=3))
    metrics = judge(fit.held_out, "classification", Evaluation(), "accuracy", None).metrics
    assert metrics["accuracy"] > 0.9 and metrics["roc_auc"] > 0.95
    assert list(fit.held_out.classes) == [0, 1] and len(fit.held_out.y_true) == fit.stats.test_rows
    artifact = serialize_model(fit.pipeline)
    loaded = load_model(artifact.data, artifact.sha256)  # Ballast's trusted types, nothing new
    features = feature_frame(frame, feature_columns(schema))
    np.testing.assert_array_equal(loaded.predict(features), fit.pipeline.predict(features))


def test_a_blockwise_regressor_learns() -> None:
    frame, schema = diabetes()
    fit = run(frame, schema, "regression", SGDRegressor(random_state=3), block_rows=64, epochs=20)
    assert judge(fit.held_out, "regression", Evaluation(), "rmse", None).metrics["r2"] > 0.3


class Scrambled(InProcess):
    """Runs a map's blocks in reverse, as workers finishing in any order would."""

    def map(self, function: Callable[[Block], T], blocks: Sequence[Block]) -> list[T]:
        return list(reversed([function(block) for block in reversed(blocks)]))


def model_bytes(fit: BlockwiseFit) -> str:
    return serialize_model(fit.pipeline).sha256


def test_the_same_data_seed_and_block_size_give_the_same_model_bytes_whatever_ran_the_blocks() -> None:
    frame, schema = mixed_classification()
    first = model_bytes(run(frame, schema, "classification", SGDClassifier(loss="log_loss", random_state=3)))
    again = run(frame, schema, "classification", SGDClassifier(loss="log_loss", random_state=3), engine=Scrambled())
    assert model_bytes(again) == first
    other_blocks = run(frame, schema, "classification", SGDClassifier(loss="log_loss", random_state=3), block_rows=70)
    assert model_bytes(other_blocks) != first  # the block size is part of what makes the model


def test_blockwise_refuses_what_it_cannot_learn() -> None:
    frame, schema = breast_cancer()
    one_class = frame.assign(target=1)
    with pytest.raises(InvalidTrainingData, match="single class"):
        run(one_class, schema, "classification", SGDClassifier())
    with pytest.raises(InvalidTrainingData, match="no training row has a value"):
        run(frame.assign(target=None), schema, "classification", SGDClassifier())


def test_a_blockwise_outcome_has_the_gates_lineage_and_artifact_of_a_single_pod_one() -> None:
    frame, schema = mixed_classification()
    gates = {
        "minimums": {"accuracy": 0.8},
        "mustBeatChampion": True,
        "fairness": {"sensitiveFeature": "clinic", "maxDemographicParityDifference": 0.5},
    }
    run_spec = TrainingRunSpec.model_validate(
        {
            "model": "demo",
            "datasetRef": {"name": "bundled"},
            "estimator": "sklearn.linear_model.SGDClassifier",
            "seed": 3,
            "evaluation": {"gates": gates},
        }
    )
    champion = train_model(spec("sklearn.naive_bayes.GaussianNB", {}), frame, schema, DATASET).pipeline
    columns = feature_columns(schema)
    blocks = block_plan([len(frame)], 100)

    def load(block: Block):
        rows = frame.iloc[block.start : block.stop].reset_index(drop=True)
        return labelled_block(
            rows, block.start, schema, columns, "classification", seed=3, test_fraction=0.2, sensitive_column="clinic"
        )

    fit = train_blockwise(
        blocks, load, InProcess(), estimator=build_estimator(run_spec.estimator, None, 3), columns=columns,
        task="classification", scale=True, seed=3, epochs=5, champion=champion,
    )  # fmt: skip
    outcome = blockwise_outcome(
        run_spec, fit, task="classification", metric="accuracy", columns=columns, dataset=DATASET, block_rows=100,
        fit_seconds=1.0, sample=load(blocks[0]).features,
    )  # fmt: skip

    assert [gate.name for gate in outcome.gates] == [
        "minimum/accuracy",
        "fairness/demographic_parity_difference",
        "mustBeatChampion",
    ]
    assert outcome.metrics["accuracy"] > 0.8 and "demographic_parity_difference" in outcome.metrics
    assert "champion" in outcome.gates[2].message
    assert outcome.params["loss"] == "log_loss" and outcome.params["random_state"] == 3
    assert outcome.reproducibility["blockwise"] == {"blockRows": 100, "epochs": 5}
    # and the run's status gets them, through the termination message
    result = training_result(outcome, artifact_uri="file:///s/m.skops", metadata_uri="file:///s/metadata.json")
    assert result["reproducibility"]["blockwise"] == {"blockRows": 100, "epochs": 5}
    assert outcome.train_rows + outcome.test_rows + outcome.dropped_rows == len(frame)
    assert outcome.sensitive_feature == "clinic" and set(outcome.error_rates) == {"0", "1"}
    # imputed with the mean, as recorded for a reviewer
    numeric = next(group for group in outcome.preprocessing if group["name"] == "numeric")
    assert numeric["steps"][0]["params"]["strategy"] == "mean"
    loaded = load_model(outcome.artifact.data, outcome.artifact.sha256)
    features = feature_frame(frame, columns)
    np.testing.assert_array_equal(loaded.predict(features), outcome.pipeline.predict(features))
