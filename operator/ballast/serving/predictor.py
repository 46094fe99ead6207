"""Predictions for a FeatureBatch: the pipeline itself, or a compiled copy of it that is faster.

`PipelinePredictor` is the definition of a correct answer: it builds the DataFrame that
training built (through `feature_frame`) and calls the pipeline's own predict/predict_proba.
On one row that costs about 1-2 ms, almost all of it in pandas and ColumnTransformer's
per-call bookkeeping, against tens of microseconds for the estimator itself.

`CompiledPipeline` runs Ballast's standard preprocessing (ballast.training.preprocessing)
as plain numpy over the fitted statistics: the median imputer is a `where` on NaN, the scaler
the same `(x - mean_) / scale_` float64 arithmetic, the one-hot encoder a dict lookup into
`categories_`; then the fitted estimator's own predict and predict_proba run on the matrix,
as Pipeline would call them. Forests are the one estimator whose public predict is slowed by
joblib's per-call setup (~0.4 ms even with n_jobs=1) and each tree's own checks, so their
trees' `tree_.predict` outputs are summed here in the same order and with the same arithmetic
as sklearn's `_accumulate_prediction`. Linear models' outputs come from one matrix product
(ballast.serving.linear), without their per-call validation.

`build_predictor` only hands out the compiled path when it predicts bit-for-bit what the
pipeline predicts on a probe batch (edges of the training profile, missing values, unseen
categories); any other pipeline, or any difference, gets PipelinePredictor.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor, RandomForestClassifier, RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from ballast.serving.linear import linear_outputs
from ballast.serving.tensors import FeatureBatch
from ballast.training.features import FeatureColumns, feature_frame

log = logging.getLogger(__name__)

FOREST_CLASSIFIERS = (RandomForestClassifier, ExtraTreesClassifier)
FOREST_REGRESSORS = (RandomForestRegressor, ExtraTreesRegressor)


@dataclass(frozen=True)
class Prediction:
    labels: np.ndarray
    """predict(): class labels (classifiers) or float64 values (regressors), one per row."""
    probabilities: np.ndarray | None
    """predict_proba(): (rows, classes) float64, classes in the estimator's classes_ order; None for regressors."""


class Predictor(Protocol):
    kind: str

    def predict(self, batch: FeatureBatch) -> Prediction: ...


def batch_frame(batch: FeatureBatch, columns: FeatureColumns) -> pd.DataFrame:
    """The batch as the DataFrame feature_frame expects (the same columns a snapshot has)."""
    data: dict[str, Any] = {name: batch.numeric[:, j] for j, name in enumerate(columns.numeric)}
    data.update({name: batch.categorical[:, j] for j, name in enumerate(columns.categorical)})
    return pd.DataFrame(data, index=pd.RangeIndex(batch.rows))


class PipelinePredictor:
    """The reference: feature_frame, then the pipeline's own methods."""

    kind = "pipeline"

    def __init__(self, pipeline: Any, columns: FeatureColumns, classifier: bool) -> None:
        self._pipeline, self._columns, self._classifier = pipeline, columns, classifier

    def predict(self, batch: FeatureBatch) -> Prediction:
        frame = feature_frame(batch_frame(batch, self._columns), self._columns)
        labels = np.asarray(self._pipeline.predict(frame))
        probabilities = np.asarray(self._pipeline.predict_proba(frame)) if self._classifier else None
        return Prediction(labels=labels, probabilities=probabilities)


class NotCompilable(Exception):
    """The pipeline is not Ballast's standard shape; serve it through PipelinePredictor."""


# --- compiling the preprocessing ---------------------------------------------------------

Step = Callable[[np.ndarray], np.ndarray]


def _median_imputer(imputer: SimpleImputer) -> Step:
    statistics = np.asarray(imputer.statistics_, dtype=np.float64)
    if imputer.add_indicator or np.isnan(statistics).any() or not _is_nan(imputer.missing_values):
        # An all-missing training column makes sklearn drop it; not worth mirroring.
        raise NotCompilable("numeric imputer with an indicator, an empty column or a custom missing value")
    return lambda x: np.where(np.isnan(x), statistics, x)


def _scaler(scaler: StandardScaler) -> Step:
    mean = np.asarray(scaler.mean_, dtype=np.float64) if scaler.with_mean else None
    scale = np.asarray(scaler.scale_, dtype=np.float64) if scaler.with_std else None

    def scale_columns(x: np.ndarray) -> np.ndarray:
        if mean is not None:
            x = x - mean
        if scale is not None:
            x = x / scale
        return x

    return scale_columns


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and value != value


class _OneHot:
    """most_frequent imputation then OneHotEncoder(handle_unknown="ignore"), dense float64."""

    def __init__(self, imputer: SimpleImputer, encoder: OneHotEncoder) -> None:
        if imputer.add_indicator or not _is_nan(imputer.missing_values) or imputer.strategy != "most_frequent":
            raise NotCompilable("categorical imputer is not most_frequent on NaN")
        if (
            encoder.drop is not None
            or encoder.handle_unknown != "ignore"
            or getattr(encoder, "_infrequent_enabled", False)
            or encoder.sparse_output
            or np.dtype(encoder.dtype) != np.float64
        ):
            raise NotCompilable("one-hot encoder with drop, infrequent categories, sparse or non-float64 output")
        self.fill = list(imputer.statistics_)
        if not all(isinstance(value, str) for value in self.fill):
            raise NotCompilable("categorical imputer statistics are not strings")
        self.lookups: list[dict[str, int]] = []
        offset = 0
        for categories in encoder.categories_:
            if not all(isinstance(value, str) for value in categories):
                raise NotCompilable("one-hot categories are not all strings")
            self.lookups.append({value: offset + i for i, value in enumerate(categories)})
            offset += len(categories)
        self.width = offset

    def __call__(self, x: np.ndarray) -> np.ndarray:
        out = np.zeros((x.shape[0], self.width), dtype=np.float64)
        for j, lookup in enumerate(self.lookups):
            fill = self.fill[j]
            for i, value in enumerate(x[:, j].tolist()):
                column = lookup.get(fill if value != value else value)  # NaN != NaN: missing
                if column is not None:
                    out[i, column] = 1.0
        return out


def _numeric_steps(pipeline: Any) -> list[Step]:
    if not isinstance(pipeline, Pipeline):
        raise NotCompilable("numeric transformer is not a Pipeline")
    steps: list[Step] = []
    for name, step in pipeline.steps:
        if isinstance(step, SimpleImputer) and step.strategy == "median":
            steps.append(_median_imputer(step))
        elif isinstance(step, StandardScaler):
            steps.append(_scaler(step))
        else:
            raise NotCompilable(f"numeric step {name!r} is a {type(step).__name__}")
    return steps


def _categorical_step(pipeline: Any) -> _OneHot:
    if not isinstance(pipeline, Pipeline) or len(pipeline.steps) != 2:
        raise NotCompilable("categorical transformer is not imputer + one-hot")
    (_, imputer), (_, encoder) = pipeline.steps
    if not isinstance(imputer, SimpleImputer) or not isinstance(encoder, OneHotEncoder):
        raise NotCompilable("categorical transformer is not imputer + one-hot")
    return _OneHot(imputer, encoder)


@dataclass(frozen=True)
class _Block:
    """One ColumnTransformer entry: which batch matrix and columns it reads, what it does to them."""

    numeric: bool
    indices: np.ndarray
    transform: Callable[[np.ndarray], np.ndarray]


def _compile_blocks(preprocessor: Any, columns: FeatureColumns) -> list[_Block]:
    if not isinstance(preprocessor, ColumnTransformer) or getattr(preprocessor, "sparse_output_", False):
        raise NotCompilable("the first step is not a dense ColumnTransformer")
    blocks: list[_Block] = []
    for name, transformer, selected in preprocessor.transformers_:
        if transformer == "drop":
            continue
        if not isinstance(selected, list) or not all(isinstance(c, str) for c in selected):
            raise NotCompilable(f"transformer {name!r} selects columns by something other than names")
        if all(c in columns.numeric for c in selected) and not isinstance(transformer, str):
            steps = _numeric_steps(transformer)
            indices = np.array([columns.numeric.index(c) for c in selected], dtype=np.intp)

            def run(x: np.ndarray, steps: list[Step] = steps) -> np.ndarray:
                for step in steps:
                    x = step(x)
                return x

            blocks.append(_Block(numeric=True, indices=indices, transform=run))
        elif all(c in columns.categorical for c in selected) and not isinstance(transformer, str):
            indices = np.array([columns.categorical.index(c) for c in selected], dtype=np.intp)
            blocks.append(_Block(numeric=False, indices=indices, transform=_categorical_step(transformer)))
        else:
            raise NotCompilable(f"transformer {name!r} ({transformer!r}) is not Ballast's numeric or categorical block")
    if not blocks:
        raise NotCompilable("the ColumnTransformer keeps no column")
    return blocks


# --- the estimator -------------------------------------------------------------------------


def _forest_classifier_outputs(forest: Any, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = forest._validate_X_predict(x)  # float32 and finiteness, exactly as predict_proba checks
    n_classes = forest.n_classes_
    proba = np.zeros((x.shape[0], n_classes), dtype=np.float64)
    # What each tree's predict_proba(x, check_input=False) returns, without its per-call
    # check_is_fitted (~10 us a tree, most of a 100-tree forest's time on one row).
    for tree in forest.estimators_:
        proba += tree.tree_.predict(x)[:, :n_classes]
    proba /= len(forest.estimators_)
    return forest.classes_.take(np.argmax(proba, axis=1), axis=0), proba


def _forest_regressor_output(forest: Any, x: np.ndarray) -> np.ndarray:
    x = forest._validate_X_predict(x)
    values = np.zeros(x.shape[0], dtype=np.float64)
    for tree in forest.estimators_:
        values += tree.tree_.predict(x)[:, 0]
    values /= len(forest.estimators_)
    return values


class CompiledPipeline:
    kind = "compiled"

    def __init__(self, pipeline: Any, columns: FeatureColumns, classifier: bool) -> None:
        if not isinstance(pipeline, Pipeline) or len(pipeline.steps) != 2:
            raise NotCompilable("not a two-step Pipeline (preprocess, model)")
        self._blocks = _compile_blocks(pipeline.steps[0][1], columns)
        self._estimator = pipeline.steps[1][1]
        self._classifier = classifier
        single_output = getattr(self._estimator, "n_outputs_", 1) == 1
        self._forest = single_output and isinstance(self._estimator, FOREST_CLASSIFIERS + FOREST_REGRESSORS)
        self._linear = linear_outputs(self._estimator)

    def features(self, batch: FeatureBatch) -> np.ndarray:
        """What the ColumnTransformer would output for the batch."""
        parts = [
            block.transform(batch.numeric[:, block.indices] if block.numeric else batch.categorical[:, block.indices])
            for block in self._blocks
        ]
        return parts[0] if len(parts) == 1 else np.hstack(parts)

    def predict(self, batch: FeatureBatch) -> Prediction:
        x = self.features(batch)
        estimator = self._estimator
        if self._linear is not None:
            labels, probabilities = self._linear(x)
            return Prediction(labels=labels, probabilities=probabilities)
        if self._classifier:
            if self._forest:
                labels, probabilities = _forest_classifier_outputs(estimator, x)
            else:
                labels, probabilities = estimator.predict(x), estimator.predict_proba(x)
            return Prediction(labels=np.asarray(labels), probabilities=np.asarray(probabilities))
        values = _forest_regressor_output(estimator, x) if self._forest else estimator.predict(x)
        return Prediction(labels=np.asarray(values), probabilities=None)


def same_prediction(a: Prediction, b: Prediction) -> bool:
    """Bit-for-bit equal labels and probabilities."""
    if a.labels.dtype != b.labels.dtype or not np.array_equal(a.labels, b.labels):
        return False
    if (a.probabilities is None) != (b.probabilities is None):
        return False
    return a.probabilities is None or np.array_equal(a.probabilities, b.probabilities)


def build_predictor(pipeline: Any, columns: FeatureColumns, classifier: bool, probe: FeatureBatch) -> Predictor:
    """The compiled predictor if it matches the pipeline exactly on `probe`, else the pipeline itself."""
    reference = PipelinePredictor(pipeline, columns, classifier)
    expected = reference.predict(probe)  # also the warm-up of the reference path
    try:
        compiled = CompiledPipeline(pipeline, columns, classifier)
        if same_prediction(compiled.predict(probe), expected):
            return compiled
        log.warning("the compiled pipeline differs from the pipeline on the probe batch; serving the pipeline itself")
    except NotCompilable as why:
        log.info("serving the pipeline itself: %s", why)
    except Exception:  # noqa: BLE001 - any failure of the fast path leaves the exact path
        log.warning("the compiled pipeline failed on the probe batch; serving the pipeline itself", exc_info=True)
    return reference


def encoder_categories(pipeline: Any, columns: FeatureColumns) -> dict[str, list[str]]:
    """The categories each categorical feature's one-hot encoder learned ({} if there is none)."""
    found: dict[str, list[str]] = {}
    steps = getattr(pipeline, "steps", None) or []
    preprocessor = steps[0][1] if steps else None
    for _, transformer, selected in getattr(preprocessor, "transformers_", []):
        encoder = transformer.steps[-1][1] if isinstance(transformer, Pipeline) else None
        if isinstance(encoder, OneHotEncoder) and isinstance(selected, list):
            for name, categories in zip(selected, encoder.categories_):
                if name in columns.categorical:
                    found[name] = [str(value) for value in categories]
    return found


def probe_batch(
    columns: FeatureColumns, numeric_values: list[tuple[float, ...]], categorical_values: list[tuple[str, ...]]
) -> FeatureBatch:
    """Rows that visit every given value of every feature, plus a row of missing values and,
    for each feature, a value beyond training (above the largest edge, an unseen category)."""
    extended_numeric = [(*values, (max(values) + 1.0) if values else 0.0, np.nan) for values in numeric_values]
    extended_categorical = [(*values, "__ballast_probe_unseen__", np.nan) for values in categorical_values]
    rows = max([len(v) for v in extended_numeric + extended_categorical], default=1)
    numeric = np.empty((rows, len(columns.numeric)), dtype=np.float64)
    for j, values in enumerate(extended_numeric):
        numeric[:, j] = [values[i % len(values)] for i in range(rows)]
    categorical = np.empty((rows, len(columns.categorical)), dtype=object)
    for j, values in enumerate(extended_categorical):
        categorical[:, j] = [values[i % len(values)] for i in range(rows)]
    # The last row has every feature missing at once.
    numeric[-1, :] = np.nan
    categorical[-1, :] = np.nan
    return FeatureBatch(rows=rows, numeric=numeric, categorical=categorical)
