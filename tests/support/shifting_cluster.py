"""The shifting world (tests/support/shifting.py) on the cluster: its first model trained and in
Production, and traffic to it that shifts when a test says so. Shared by the drift end-to-end
tests."""

from __future__ import annotations

import random

from tests.support import shifting
from tests.support.ballast_objects import serve_first_version
from tests.support.kube import Kubectl
from tests.support.traffic import Traffic


def production_version(k: Kubectl) -> str | None:
    versions = k.get_json("modelversions")["items"]
    return next((v["metadata"]["name"] for v in versions if (v.get("status") or {}).get("stage") == "Production"), None)


def serve_first_model(k: Kubectl) -> str:
    """Dataset, TrainingRun, and the version it registers in Production; its name."""
    run = {
        "apiVersion": "ballast.dev/v1alpha1",
        "kind": "TrainingRun",
        "metadata": {"name": "initial"},
        "spec": shifting.training_spec(),
    }
    return serve_first_version(k, shifting.dataset(shifting.rows(400, shifted=False, seed=1)), run)


def shifting_traffic(k: Kubectl, shifted: bool, max_rows_per_second: float | None = None) -> Traffic:
    """Labelled traffic to the model's Service, from the world before or after the shift as
    `traffic.shifted` says (it can be flipped while the traffic runs)."""
    pool = {False: shifting.rows(2000, shifted=False, seed=11), True: shifting.rows(2000, shifted=True, seed=12)}
    traffic = Traffic(
        k,
        shifting.MODEL,
        shifting.MODEL,
        shifting.FEATURES,
        shifting.LABEL,
        rows=lambda: random.sample(pool[traffic.shifted], 5),
        pause=0.02,
        max_rows_per_second=max_rows_per_second,
    )
    traffic.shifted = shifted
    return traffic
