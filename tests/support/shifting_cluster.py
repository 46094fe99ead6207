"""The shifting world (tests/support/shifting.py) on the cluster: its first model trained and in
Production, and traffic to it that shifts when a test says so. Shared by the drift end-to-end
tests."""

from __future__ import annotations

import random

from tests.support import shifting
from tests.support.ballast_objects import condition, wait_for_condition
from tests.support.kube import Kubectl, wait_for
from tests.support.traffic import Traffic


def production_version(k: Kubectl) -> str | None:
    versions = k.get_json("modelversions")["items"]
    return next((v["metadata"]["name"] for v in versions if (v.get("status") or {}).get("stage") == "Production"), None)


def serve_first_model(k: Kubectl) -> str:
    """Dataset, TrainingRun, and the version it registers in Production; its name."""
    k.apply(shifting.dataset(shifting.rows(400, shifted=False, seed=1)))
    wait_for_condition(k, "dataset", shifting.MODEL, "Ready")
    k.apply(
        {
            "apiVersion": "ballast.dev/v1alpha1",
            "kind": "TrainingRun",
            "metadata": {"name": "initial"},
            "spec": shifting.training_spec(),
        }
    )
    run = wait_for_condition(k, "trainingrun", "initial", "Succeeded")
    assert condition(run, "Succeeded")["status"] == "True", run["status"]
    wait_for(
        lambda: production_version(k) == run["status"]["modelVersion"],
        timeout=120,
        interval=1,
        message="the first version in Production",
    )
    return run["status"]["modelVersion"]


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
