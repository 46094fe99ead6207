"""A world with a group column for the fairness and error-rate end-to-end tests: two numeric
features, a group g (0.0 or 1.0, a numeric column so its groups are its training bins) and a
label that follows x1 + 0.5 x2 > 0 whatever the group. The model trained on it treats both
groups alike; what moves later is the population (the model never changes):

- `unfair`: group 1's x1 moves down by 1.5, so the model's positive rate for group 1 falls
  from about 0.5 to about 0.1 while group 0's stays (demographic parity difference ~0.4);
- `missed`: 85% of rows are clear negatives and 15% positives, a third of which now sit just
  below the boundary (their label stays 1): the false negative rate of class 1 rises to about
  0.33 while accuracy stays about 0.95.
"""

from __future__ import annotations

import numpy as np

from tests.support.ballast_objects import drift_policy

MODEL = "groups"
FEATURES = ["x1", "x2", "g"]
LABEL = "label"
COLUMNS = [
    {"name": "x1", "type": "float"},
    {"name": "x2", "type": "float"},
    {"name": "g", "type": "float"},
    {"name": "label", "type": "integer"},
]


def _row(x1: float, x2: float, g: float, label: int) -> dict:
    return {"x1": round(float(x1), 4), "x2": round(float(x2), 4), "g": float(g), "label": int(label)}


def rows(count: int, *, world: str = "training", seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    x2 = rng.normal(0.0, 1.0, count)
    g = rng.integers(0, 2, count).astype(float)
    if world == "missed":
        positive = rng.random(count) < 0.15
        missed = positive & (rng.random(count) < 1 / 3)
        x1 = np.where(positive, rng.normal(2.5, 0.3, count), rng.normal(-2.5, 0.3, count))
        x1 = np.where(missed, -0.5 * x2 - rng.uniform(0.1, 0.4, count), x1)
        return [_row(a, b, c, d) for a, b, c, d in zip(x1, x2, g, positive.astype(int))]
    x1 = rng.normal(0.0, 1.0, count) - np.where((world == "unfair") & (g == 1.0), 1.5, 0.0)
    label = (x1 + 0.5 * x2 > 0).astype(int)
    return [_row(a, b, c, d) for a, b, c, d in zip(x1, x2, g, label)]


def dataset(rows_: list[dict]) -> dict:
    return {
        "apiVersion": "ballast.dev/v1alpha1",
        "kind": "Dataset",
        "metadata": {"name": MODEL},
        "spec": {
            "source": {"inline": {"rows": rows_}},
            "schema": {"columns": COLUMNS, "target": LABEL},
            "validation": {"minRows": 50},
        },
    }


def training_run(name: str = "initial") -> dict:
    """Logistic regression whose fairness on g is measured (a gate with no limit) and recorded."""
    return {
        "apiVersion": "ballast.dev/v1alpha1",
        "kind": "TrainingRun",
        "metadata": {"name": name},
        "spec": training_spec(),
    }


def training_spec() -> dict:
    return {
        "model": MODEL,
        "datasetRef": {"name": MODEL},
        "estimator": "sklearn.linear_model.LogisticRegression",
        "seed": 3,
        "activeDeadlineSeconds": 300,
        "backoffLimit": 0,
        "evaluation": {"testFraction": 0.3, "gates": {"fairness": {"sensitiveFeature": "g"}}},
        "modelVersionTemplate": {"serving": {"replicas": 1}, "rollout": {"strategy": "Immediate"}},
    }


OFF = {"enabled": False}


def policy(checks: dict, *, min_samples: int = 150, action: dict | None = None) -> dict:
    """Only the checks a test is about: the others (a feature that moves on purpose) are off.
    The action notifies unless the test gives one."""
    every_other = {name: OFF for name in ("featureDrift", "predictionDrift", "integrity", "accuracy", "errorRates")}
    return drift_policy(f"{MODEL}-drift", MODEL, every_other | checks, action=action, min_samples=min_samples)
