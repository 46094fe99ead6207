"""Ballast's standard pipeline: imputation and encoding driven by the schema, then the estimator."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from ballast.api.feature_steps import FeatureStep
from ballast.training.feature_pipeline import declared_transformers
from ballast.training.features import FeatureColumns
from ballast.training.reproducibility import json_safe

# Models whose fit depends on the scale of the features (distances, penalties); trees and
# naive Bayes do not care, so they skip the scaler.
SCALE_SENSITIVE_ESTIMATORS = frozenset(
    {
        "sklearn.linear_model.LogisticRegression",
        "sklearn.linear_model.LinearRegression",
        "sklearn.linear_model.Ridge",
        "sklearn.linear_model.Lasso",
        "sklearn.linear_model.ElasticNet",
        "sklearn.linear_model.SGDClassifier",
        "sklearn.linear_model.SGDRegressor",
        "sklearn.neighbors.KNeighborsClassifier",
        "sklearn.neighbors.KNeighborsRegressor",
    }
)

PREPROCESS_STEP = "preprocess"
MODEL_STEP = "model"


def needs_scaling(class_path: str) -> bool:
    return class_path in SCALE_SENSITIVE_ESTIMATORS


def build_preprocessor(
    columns: FeatureColumns, scale: bool, feature_steps: Sequence[FeatureStep] = ()
) -> ColumnTransformer:
    declared = declared_transformers(feature_steps, scale)
    numeric = [name for name in columns.numeric if name not in declared.numeric_taken]
    categorical = [name for name in columns.categorical if name not in declared.categorical_taken]
    numeric_steps: list[tuple[str, BaseEstimator]] = [("impute", SimpleImputer(strategy="median"))]
    if scale:
        numeric_steps.append(("scale", StandardScaler()))
    transformers = []
    if numeric:
        transformers.append(("numeric", Pipeline(numeric_steps), numeric))
    if categorical:
        transformers.append(
            (
                "categorical",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="most_frequent")),
                        # Dense output: HistGradientBoosting and GaussianNB refuse sparse input, and one
                        # layout for every estimator keeps the trusted-type list small.
                        ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
                    ]
                ),
                categorical,
            )
        )
    return ColumnTransformer([*transformers, *declared.entries], remainder="drop")


def build_pipeline(
    class_path: str, estimator: BaseEstimator, columns: FeatureColumns, feature_steps: Sequence[FeatureStep] = ()
) -> Pipeline:
    return Pipeline(
        [
            (PREPROCESS_STEP, build_preprocessor(columns, needs_scaling(class_path), feature_steps)),
            (MODEL_STEP, estimator),
        ]
    )


def describe_preprocessing(pipeline: Pipeline) -> list[dict[str, Any]]:
    """The fitted preprocessing as data, for the model's record and card: per column group, its
    columns and each step's class and parameters (what a reviewer needs to redo it by hand)."""
    preprocessor = pipeline.named_steps[PREPROCESS_STEP]
    groups = []
    for name, transformer, columns in preprocessor.transformers_:
        if name == "remainder":
            continue
        steps = transformer.steps if isinstance(transformer, Pipeline) else [(name, transformer)]
        groups.append(
            {
                "name": name,
                "columns": [str(column) for column in columns],
                "steps": [
                    {
                        "name": step_name,
                        "class": f"{type(step).__module__.split('._')[0]}.{type(step).__name__}",
                        "params": json_safe(
                            {key: _import_path(value) for key, value in step.get_params(deep=False).items()}
                        ),
                    }
                    for step_name, step in steps
                ],
            }
        )
    return groups


def _import_path(value: Any) -> Any:
    """A function (a FunctionTransformer's func) by the import path the artifact names it by; a
    repr would carry a memory address and differ between runs."""
    if callable(value) and hasattr(value, "__name__") and not isinstance(value, type):
        module = getattr(value, "__module__", None) or "numpy"
        return f"{module}.{value.__name__}"
    return value
