"""The shifting world (tests/support/shifting.py) on the cluster: its first model trained and in
Production, and traffic to it that shifts when a test says so. Shared by the drift end-to-end
tests."""

from __future__ import annotations

from tests.support import shifting
from tests.support.ballast_objects import serve_first_version
from tests.support.kube import Kubectl
from tests.support.traffic import PooledTraffic


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


def shifting_traffic(k: Kubectl, shifted: bool, max_rows_per_second: float | None = None) -> PooledTraffic:
    """Labelled traffic to the model's Service, from the world before or after the shift as
    `traffic.world` says ("before" or "shifted"; it can be switched while the traffic runs)."""
    pools = {
        "before": shifting.rows(2000, shifted=False, seed=11),
        "shifted": shifting.rows(2000, shifted=True, seed=12),
    }
    world = "shifted" if shifted else "before"
    return PooledTraffic(
        k, shifting.MODEL, shifting.FEATURES, shifting.LABEL, pools, world, pause=0.02,
        max_rows_per_second=max_rows_per_second,
    )  # fmt: skip
