"""A small world that shifts: two numeric features and a label that follows a boundary. After
the shift, x1 moves by SHIFT and the boundary moves with it, so a model trained before the
shift is wrong about half the time afterwards, and a model trained on new data is right again.
Used by the drift end-to-end test and by the demo."""

from __future__ import annotations

import numpy as np

from tests.support.ballast_objects import drift_policy as policy_document

MODEL = "shift"
FEATURES = ["x1", "x2"]
LABEL = "label"
SHIFT = 3.0
COLUMNS = [{"name": "x1", "type": "float"}, {"name": "x2", "type": "float"}, {"name": "label", "type": "integer"}]


def rows(count: int, *, shifted: bool, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    offset = SHIFT if shifted else 0.0
    x1 = rng.normal(offset, 1.0, count)
    x2 = rng.normal(0.0, 1.0, count)
    label = (x1 - offset + 0.5 * x2 > 0).astype(int)
    return [{"x1": round(float(a), 4), "x2": round(float(b), 4), "label": int(c)} for a, b, c in zip(x1, x2, label)]


def dataset(rows_: list[dict], name: str = MODEL) -> dict:
    return {
        "apiVersion": "ballast.dev/v1alpha1",
        "kind": "Dataset",
        "metadata": {"name": name},
        "spec": {
            "source": {"inline": {"rows": rows_}},
            "schema": {"columns": COLUMNS, "target": LABEL},
            "validation": {"minRows": 50},
        },
    }


def training_spec(
    estimator: str = "sklearn.linear_model.LogisticRegression", params: dict | None = None, rollout: dict | None = None
) -> dict:
    return {
        "model": MODEL,
        "datasetRef": {"name": MODEL},
        "estimator": estimator,
        "params": params or {},
        "seed": 3,
        "activeDeadlineSeconds": 300,
        "backoffLimit": 0,
        "evaluation": {"testFraction": 0.3},
        "modelVersionTemplate": {"serving": {"replicas": 1}, "rollout": rollout or {"strategy": "Immediate"}},
    }


def drift_policy(template_spec: dict, *, interval: str = "3s", min_samples: int = 150, promotion: str = "auto") -> dict:
    checks = {
        "featureDrift": {"numericMethod": "psi", "driftedShare": 0.5},
        "accuracy": {"minLabels": 100, "maxDrop": 0.1},
    }
    retrain = {"promotion": promotion, "maxPerDay": 3, "template": {"spec": template_spec}}
    action = {"type": "retrain", "retrain": retrain}
    return policy_document(f"{MODEL}-drift", MODEL, checks, action=action, interval=interval, min_samples=min_samples)
