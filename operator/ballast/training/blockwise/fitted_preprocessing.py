"""Ballast's standard preprocessing, fitted from merged statistics instead of from one frame.

The transformers are the single-pod pipeline's (ballast.training.preprocessing), so the model
server and the trusted-type list see nothing new; their fitted state is set from the statistics
of all training rows. Two differences, both recorded in the model's preprocessing record: numbers
are imputed with their mean, not their median (a median does not merge across blocks), and a
column with no value at all is kept as zeros rather than dropped.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from ballast.training.blockwise.stats import BlockStats
from ballast.training.features import FeatureColumns

MISSING_MODE = "missing"
"""What an all-missing categorical column is imputed with: the one category it then has."""


def _mode(counts: dict[str, int]) -> str:
    """The most frequent value; among equals the smallest, as SimpleImputer's most_frequent."""
    if not counts:
        return MISSING_MODE
    top = max(counts.values())
    return min(value for value, count in counts.items() if count == top)


def _numeric(stats: BlockStats, names: tuple[str, ...], scale: bool) -> Pipeline:
    moments = [stats.numeric[name] for name in names]
    means = np.array([m.mean for m in moments])
    row = pd.DataFrame([means], columns=list(names))
    impute = SimpleImputer(strategy="mean", keep_empty_features=True).fit(row)
    impute.statistics_ = means
    steps: list[tuple[str, object]] = [("impute", impute)]
    if scale:
        rows = stats.train_rows
        # imputing with the mean adds no deviation, so the imputed column's variance is m2 over all rows
        variances = np.array([m.m2 / rows for m in moments])
        scaler = StandardScaler().fit(row.to_numpy())
        scaler.mean_, scaler.var_, scaler.n_samples_seen_ = means, variances, rows
        scaler.scale_ = np.where(variances > 0, np.sqrt(variances), 1.0)
        steps.append(("scale", scaler))
    return Pipeline(steps)


def _categorical(stats: BlockStats, names: tuple[str, ...]) -> Pipeline:
    counts = [dict(stats.categories.get(name, {})) for name in names]
    modes = np.array([_mode(c) for c in counts], dtype=object)
    categories = [sorted(c or {MISSING_MODE: 0}) for c in counts]
    row = pd.DataFrame([modes], columns=list(names), dtype=object)
    impute = SimpleImputer(strategy="most_frequent", keep_empty_features=True).fit(row)
    impute.statistics_ = modes
    onehot = OneHotEncoder(categories=categories, handle_unknown="ignore", sparse_output=False)
    onehot.fit(row.to_numpy())
    return Pipeline([("impute", impute), ("onehot", onehot)])


def fitted_preprocessor(stats: BlockStats, columns: FeatureColumns, scale: bool) -> ColumnTransformer:
    """The ColumnTransformer the single-pod pipeline would have, fitted to these statistics."""
    transformers = []
    if columns.numeric:
        transformers.append(("numeric", _numeric(stats, columns.numeric, scale), list(columns.numeric)))
    if columns.categorical:
        transformers.append(("categorical", _categorical(stats, columns.categorical), list(columns.categorical)))
    # fitted on one row of the right columns and types, so that every attribute a ColumnTransformer
    # sets at fit exists; the transformers inside are already fitted and are put back after
    row = {name: [stats.numeric[name].mean] for name in columns.numeric}
    row |= {name: [_mode(dict(stats.categories.get(name, {})))] for name in columns.categorical}
    fitted = ColumnTransformer(transformers, remainder="drop").fit(pd.DataFrame(row)[list(columns.all)])
    fitted.transformers_ = [
        (name, dict((n, t) for n, t, _ in transformers).get(name, transformer), cols)
        for name, transformer, cols in fitted.transformers_
    ]
    return fitted
