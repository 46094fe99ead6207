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

from ballast.api.feature_steps import FeatureStep
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
    body = getattr(step, _attribute(step.kind))
    return list(body.columns)


def _attribute(kind: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in kind)


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


def declared_transformers(steps: Sequence[FeatureStep], scale: bool) -> DeclaredTransformers:
    """One chain per column that column steps name, one entry per derived feature."""
    chains: dict[str, list[tuple[str, BaseEstimator]]] = {}
    kinds: dict[str, set[str]] = {}
    entries: list[tuple[str, BaseEstimator, list[str]]] = []
    date_columns: set[str] = set()
    for step in steps:
        if step.kind in COLUMN_KINDS:
            for name in _step_columns(step):
                chain = chains.setdefault(name, [("impute", _imputer())])
                chain.append((f"{step.kind}{len(chain)}", _column_transformer(step)))
                kinds.setdefault(name, set()).add(step.kind)
    for name, chain in chains.items():
        if scale and not kinds[name] & SCALING_KINDS:
            chain.append(("scale", StandardScaler()))
        entries.append((f"steps:{name}".replace("__", "_"), Pipeline(chain), [name]))
    for step in steps:
        derive: tuple[str, BaseEstimator, list[str]] | None = None
        if step.ratio is not None:
            ratio = step.ratio
            derive = (
                f"ratio:{ratio.name}",
                FunctionTransformer(feature_functions.ratio),
                [ratio.numerator, ratio.denominator],
            )
        elif step.date_parts is not None:
            parts = step.date_parts
            derive = (
                f"dateParts:{parts.column}",
                FunctionTransformer(feature_functions.date_parts, kw_args={"parts": list(parts.parts)}),
                [parts.column],
            )
            date_columns.add(parts.column)
        if derive is None:
            continue
        name, transformer, used = derive
        chain = [(name.split(":")[0], transformer), ("impute", _imputer())]
        if scale:
            chain.append(("scale", StandardScaler()))
        entries.append((name.replace("__", "_"), Pipeline(chain), used))
    return DeclaredTransformers(
        entries=entries, numeric_taken=frozenset(chains), categorical_taken=frozenset(date_columns)
    )
