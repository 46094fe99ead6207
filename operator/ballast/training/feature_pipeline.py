"""Declared feature steps (spec.featureSteps) as scikit-learn transformers inside the model's pipeline.

Everything a step computes happens inside the fitted pipeline, so the model server, which hands the
pipeline the raw feature columns (`features.feature_frame`), applies the very same steps. Each step
is a scikit-learn class or a FunctionTransformer over a numpy function or one of
`ballast.models.feature_functions`, all of which `trusted_types` lists; nothing else is accepted.

A column that column steps name is taken out of Ballast's default numeric treatment and gets its
own chain instead: median imputation, the declared steps in order, then (for a scale-sensitive
estimator, unless a scaling step was declared) standard scaling. Derived features (ratios, date
parts) are added beside the raw ones; a date column used for date parts is not one-hot encoded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, MinMaxScaler, StandardScaler

from ballast.api.feature_steps import ColumnsStep, FeatureStep
from ballast.models import feature_functions
from ballast.training.errors import InvalidTrainingData
from ballast.training.features import FeatureColumns

SCALING_KINDS = frozenset({"standardScale", "minMaxScale"})
COLUMN_KINDS = ("standardScale", "minMaxScale", "log", "clip", "bucket")


@dataclass(frozen=True)
class DeclaredTransformers:
    """The ColumnTransformer entries the declared steps add, and the columns they take over."""

    entries: list[tuple[str, BaseEstimator, list[str]]] = field(default_factory=list)
    numeric_taken: frozenset[str] = frozenset()
    categorical_taken: frozenset[str] = frozenset()


def _column_transformer(step: FeatureStep) -> BaseEstimator:
    if step.standard_scale is not None:
        return StandardScaler()
    if step.min_max_scale is not None:
        return MinMaxScaler()
    if step.log is not None:
        return FunctionTransformer(np.log1p)
    if step.clip is not None:
        return FunctionTransformer(np.clip, kw_args={"a_min": step.clip.min, "a_max": step.clip.max})
    if step.bucket is not None:
        # digitize counts the edges at or below the value: 0 below the first edge.
        return FunctionTransformer(np.digitize, kw_args={"bins": list(step.bucket.edges)})
    raise ValueError(f"{step.kind} is not a column step")


def _step_columns(step: FeatureStep) -> list[str]:
    body = step.body
    assert isinstance(body, ColumnsStep), f"{step.kind} is not a column step"
    return list(body.columns)


def check_feature_steps(steps: Sequence[FeatureStep], columns: FeatureColumns) -> None:
    """Refuse steps whose columns are not features of the right type, naming the step and column."""
    numeric, categorical = set(columns.numeric), set(columns.categorical)
    derived: set[str] = set()
    for index, step in enumerate(steps):
        where = f"featureSteps[{index}].{step.kind}"
        if step.kind in COLUMN_KINDS:
            needed = {name: numeric for name in _step_columns(step)}
        elif step.ratio is not None:
            needed = {step.ratio.numerator: numeric, step.ratio.denominator: numeric}
            if step.ratio.name in numeric | categorical | derived:
                raise InvalidTrainingData(f"{where}: the name {step.ratio.name!r} is already a feature's")
            derived.add(step.ratio.name)
        else:
            assert step.date_parts is not None
            needed = {step.date_parts.column: categorical}
        for name, allowed in needed.items():
            if name not in numeric | categorical:
                raise InvalidTrainingData(f"{where}: column {name!r} is not a feature of the dataset's schema")
            if name not in allowed:
                kind = "numeric (integer or float)" if allowed is numeric else "a string column of dates"
                raise InvalidTrainingData(f"{where}: column {name!r} must be {kind}")


def check_feature_values(steps: Sequence[FeatureStep], features: pd.DataFrame) -> None:
    """Refuse training data a step cannot mean anything on: a date column with no parsable date,
    a log column with values below zero (log1p is undefined below -1 and would reach the model as NaN)."""
    for index, step in enumerate(steps):
        if step.date_parts is not None:
            parsed = feature_functions.date_parts(features[[step.date_parts.column]], ["year"])
            if np.isnan(parsed).all():
                raise InvalidTrainingData(
                    f"featureSteps[{index}].dateParts: column {step.date_parts.column!r} holds no ISO 8601 date"
                )
        if step.log is not None:
            negative = [name for name in step.log.columns if (features[name] < 0).any()]
            if negative:
                raise InvalidTrainingData(
                    f"featureSteps[{index}].log: column(s) {', '.join(negative)} hold values below 0"
                )


def _imputer() -> SimpleImputer:
    return SimpleImputer(strategy="median")


def _column_chains(steps: Sequence[FeatureStep], scale: bool) -> dict[str, list[tuple[str, BaseEstimator]]]:
    """Per column that column steps name: imputation, its steps in declared order, then the
    default scaling unless one of them scales."""
    chains: dict[str, list[tuple[str, BaseEstimator]]] = {}
    scaled: set[str] = set()
    for step in steps:
        if step.kind not in COLUMN_KINDS:
            continue
        for name in _step_columns(step):
            chain = chains.setdefault(name, [("impute", _imputer())])
            chain.append((f"{step.kind}{len(chain)}", _column_transformer(step)))
            if step.kind in SCALING_KINDS:
                scaled.add(name)
    for name, chain in chains.items():
        if scale and name not in scaled:
            chain.append(("scale", StandardScaler()))
    return chains


def _derived_entry(step: FeatureStep, scale: bool) -> tuple[str, BaseEstimator, list[str]] | None:
    """A ratio or date parts as a ColumnTransformer entry: derive, impute, scale if needed."""
    if step.ratio is not None:
        kind, label, used = "ratio", step.ratio.name, [step.ratio.numerator, step.ratio.denominator]
        derive = FunctionTransformer(feature_functions.ratio)
    elif step.date_parts is not None:
        kind, label, used = "dateParts", step.date_parts.column, [step.date_parts.column]
        derive = FunctionTransformer(feature_functions.date_parts, kw_args={"parts": list(step.date_parts.parts)})
    else:
        return None
    chain: list[tuple[str, BaseEstimator]] = [(kind, derive), ("impute", _imputer())]
    if scale:
        chain.append(("scale", StandardScaler()))
    return _entry_name(f"{kind}:{label}"), Pipeline(chain), used


def _entry_name(name: str) -> str:
    # ColumnTransformer reserves "__" for nested parameter names.
    return name.replace("__", "_")


def declared_transformers(steps: Sequence[FeatureStep], scale: bool) -> DeclaredTransformers:
    """One chain per column that column steps name, one entry per derived feature."""
    chains = _column_chains(steps, scale)
    entries = [(_entry_name(f"steps:{name}"), Pipeline(chain), [name]) for name, chain in chains.items()]
    derived = [entry for entry in (_derived_entry(step, scale) for step in steps) if entry is not None]
    date_columns = {step.date_parts.column for step in steps if step.date_parts is not None}
    return DeclaredTransformers(
        entries=[*entries, *derived], numeric_taken=frozenset(chains), categorical_taken=frozenset(date_columns)
    )
