"""A real population that shifts: scikit-learn's bundled breast cancer data (nothing downloaded),
split at the median mean radius. The world first holds small tumours; then it moves to large
ones, and the Dataset's next version holds the old and the new rows together. A model retrained
on that mix has a training reference that describes neither world, which is what the production
baseline reference (spec.reference.source productionBaseline) is for.

Used by the baseline's unit test (a model server in this process) and its end-to-end test."""

from __future__ import annotations

from functools import cache

import pandas as pd
from sklearn.datasets import load_breast_cancer

MODEL = "tumours"
LABEL = "malignant"
SPLIT_FEATURE = "mean_radius"
TIME = "recorded_at"
"""The column that dates each row in `dated()`: it is no input of the model (schema.features)."""


@cache
def frame() -> pd.DataFrame:
    """The 569 rows, snake_case columns; the label is 1 for malignant (sklearn's target is 1 for benign)."""
    data = load_breast_cancer(as_frame=True).frame
    data.columns = [column.replace(" ", "_") for column in data.columns]
    data[LABEL] = 1 - data.pop("target")
    return data.round(5)


FEATURES = [column for column in frame().columns if column != LABEL]
COLUMNS = [{"name": name, "type": "float"} for name in FEATURES] + [{"name": LABEL, "type": "integer"}]


def small() -> pd.DataFrame:
    """The world before: tumours up to the median mean radius (mostly benign)."""
    data = frame()
    return data[data[SPLIT_FEATURE] <= data[SPLIT_FEATURE].median()]


def large() -> pd.DataFrame:
    """The world after: tumours above the median mean radius (mostly malignant)."""
    data = frame()
    return data[data[SPLIT_FEATURE] > data[SPLIT_FEATURE].median()]


def dated() -> pd.DataFrame:
    """Both worlds in one Dataset version, dated: the small tumours recorded in January, the large
    ones in June (the newest part of the data, by spec.reference.newest)."""
    old, new = small().copy(), large().copy()
    old[TIME] = [f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}Z" for i in range(len(old))]
    new[TIME] = [f"2026-06-01T00:{i // 60:02d}:{i % 60:02d}Z" for i in range(len(new))]
    return pd.concat([old, new])


DATED_SCHEMA = {
    "columns": [*COLUMNS, {"name": TIME, "type": "string"}],
    "target": LABEL,
    "features": FEATURES,  # the time column dates the rows; it is no input of the model
}


def dated_dataset() -> dict:
    rows = dated()
    body = dataset([{**record, TIME: time} for record, time in zip(records(rows), rows[TIME], strict=True)])
    body["spec"]["schema"] = DATED_SCHEMA
    return body


def records(rows: pd.DataFrame) -> list[dict]:
    return [
        {**{name: float(row[name]) for name in FEATURES}, LABEL: int(row[LABEL])}
        for row in rows.to_dict(orient="records")
    ]


def dataset(rows: list[dict], name: str = MODEL) -> dict:
    return {
        "apiVersion": "ballast.dev/v1alpha1",
        "kind": "Dataset",
        "metadata": {"name": name},
        "spec": {
            "source": {"inline": {"rows": rows}},
            "schema": {"columns": COLUMNS, "target": LABEL},
            "validation": {"minRows": 50},
        },
    }


def drift_policy(name: str, reference: dict, checks: dict, action: dict, **spec: str) -> dict:
    """A DriftPolicy on the model that evaluates every 3 s a window of at least 150 predictions."""
    return {
        "apiVersion": "ballast.dev/v1alpha1",
        "kind": "DriftPolicy",
        "metadata": {"name": name},
        "spec": {
            "model": MODEL,
            "interval": "3s",
            "window": {"minSamples": 150, "period": "2m"},
            "reference": reference,
            "checks": checks,
            "action": action,
            **spec,
        },
    }


def training_spec(rollout: dict | None = None) -> dict:
    return {
        "model": MODEL,
        "datasetRef": {"name": MODEL},
        "estimator": "sklearn.ensemble.RandomForestClassifier",
        "params": {"n_estimators": 30},
        "seed": 3,
        "activeDeadlineSeconds": 300,
        "backoffLimit": 0,
        "evaluation": {"testFraction": 0.3},
        "modelVersionTemplate": {"serving": {"replicas": 1}, "rollout": rollout or {"strategy": "Immediate"}},
    }
