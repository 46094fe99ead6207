"""Builders and waits for Ballast objects in integration tests."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from sklearn.datasets import load_iris

from ballast.conditions import find_condition
from tests.support.kube import Kubectl, shared_store_dir, wait_for
from tests.support.operator_process import STORE_MOUNT, with_store_mounted

IRIS_COLUMNS = [
    {"name": "sepal_length", "type": "float", "minimum": 0},
    {"name": "sepal_width", "type": "float", "minimum": 0},
    {"name": "petal_length", "type": "float", "minimum": 0},
    {"name": "petal_width", "type": "float", "minimum": 0},
    {"name": "species", "type": "category", "allowedValues": ["setosa", "versicolor", "virginica"]},
]


def iris_rows() -> list[dict]:
    """scikit-learn's bundled iris, as rows (nothing is downloaded)."""
    bunch = load_iris(as_frame=True)
    frame = bunch.frame.rename(
        columns={
            "sepal length (cm)": "sepal_length",
            "sepal width (cm)": "sepal_width",
            "petal length (cm)": "petal_length",
            "petal width (cm)": "petal_width",
        }
    )
    frame["species"] = [bunch.target_names[t] for t in frame.pop("target")]
    return frame.to_dict(orient="records")


def iris_csv() -> str:
    rows = iris_rows()
    out = io.StringIO()
    out.write(",".join(rows[0]) + "\n")
    for row in rows:
        out.write(",".join(str(value) for value in row.values()) + "\n")
    return out.getvalue()


def dataset(
    name: str, source: dict, *, columns=None, min_rows: int = 10, max_null_fraction: float = 0.1, fmt: str = "csv"
) -> dict:
    return {
        "apiVersion": "ballast.dev/v1alpha1",
        "kind": "Dataset",
        "metadata": {"name": name},
        "spec": {
            "source": source,
            "format": fmt,
            "schema": {"columns": columns or IRIS_COLUMNS, "target": "species"},
            "validation": {"minRows": min_rows, "maxNullFraction": max_null_fraction},
        },
    }


def training_run(
    name: str,
    dataset_name: str,
    *,
    model: str = "iris",
    estimator: str = "sklearn.linear_model.LogisticRegression",
    params=None,
    seed: int = 7,
    gates=None,
    version: str | None = None,
) -> dict:
    spec = {
        "model": model,
        "datasetRef": {"name": dataset_name, **({"version": version} if version else {})},
        "estimator": estimator,
        "seed": seed,
        "activeDeadlineSeconds": 300,
        "backoffLimit": 0,
        "evaluation": {"testFraction": 0.3, **({"gates": gates} if gates else {})},
    }
    if params:
        spec["params"] = params
    return {"apiVersion": "ballast.dev/v1alpha1", "kind": "TrainingRun", "metadata": {"name": name}, "spec": spec}


def drift_policy(
    name: str,
    model: str,
    checks: dict,
    *,
    action: dict | None = None,
    interval: str = "3s",
    min_samples: int = 150,
    period: str = "2m",
    **spec: object,
) -> dict:
    """A DriftPolicy on `model` with a cooldown of 10 minutes; it notifies unless `action` is given,
    and `spec` adds fields (a source, a reference)."""
    return {
        "apiVersion": "ballast.dev/v1alpha1",
        "kind": "DriftPolicy",
        "metadata": {"name": name},
        "spec": {
            "model": model,
            "interval": interval,
            "cooldown": "10m",
            "window": {"minSamples": min_samples, "period": period},
            "checks": checks,
            "action": action or {"type": "notify"},
            **spec,
        },
    }


def condition(document: dict, type: str) -> dict:
    return find_condition((document.get("status") or {}).get("conditions"), type) or {}


def wait_for_condition(
    k: Kubectl, resource: str, name: str, type: str, statuses=("True", "False"), timeout: float = 180
) -> dict:
    def settled():
        document = k.get_json(resource, name)
        return document if condition(document, type).get("status") in statuses else None

    return wait_for(settled, timeout=timeout, interval=1, message=f"{resource}/{name} {type} in {statuses}")


def with_iris_dataset(k: Kubectl) -> Kubectl:
    """k, once its namespace has the iris Dataset ingested and Ready (the serving tests' start)."""
    k.apply(dataset("iris", {"inline": {"rows": iris_rows()}}))
    wait_for_condition(k, "dataset", "iris", "Ready", timeout=120)
    return k


def wait_for_stage(k: Kubectl, version: str, stage: str, timeout: float = 180) -> None:
    """Waits until the ModelVersion `version` is in `stage` (Production, Canary, ...)."""
    wait_for(
        lambda: (k.get_json("modelversion", version).get("status") or {}).get("stage") == stage,
        timeout=timeout,
        interval=1,
        message=f"{version} in {stage}",
    )


def serve_first_version(k: Kubectl, dataset: dict, run: dict, timeout: float = 120) -> str:
    """The Dataset, then the TrainingRun on it, waited for until the version it registers is in
    Production; that version's name."""
    k.apply(dataset)
    wait_for_condition(k, "dataset", dataset["metadata"]["name"], "Ready")
    k.apply(run)
    done = wait_for_condition(k, "trainingrun", run["metadata"]["name"], "Succeeded")
    assert condition(done, "Succeeded")["status"] == "True", done["status"]
    version = done["status"]["modelVersion"]
    wait_for_stage(k, version, "Production", timeout=timeout)
    return version


def policy_evaluations(
    k: Kubectl, policy: str, version: str, count: int, timeout: float, after: str = ""
) -> list[dict]:
    """The DriftPolicy's statuses of `count` successive evaluations of `version` (each a new
    lastEvaluationTime, later than `after` when given) that judged checks."""
    seen: dict[str, dict] = {}

    def status() -> dict:
        return k.get_json("driftpolicy", policy).get("status") or {}

    def enough() -> bool:
        current = status()
        evaluated = current.get("lastEvaluationTime") or ""
        if current.get("modelVersion") == version and evaluated > after and current.get("checks"):
            seen[evaluated] = current
        return len(seen) >= count

    try:
        wait_for(enough, timeout=timeout, interval=0.5, message=f"{count} evaluations of {version} by {policy}")
    except AssertionError as error:
        raise AssertionError(f"{error}; the policy's status: {status()}") from None
    return list(seen.values())


def run_ballast_on_store(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess:
    """`ballast <args> --store file:///var/lib/ballast` as an administrator runs `gc` or `erase`:
    where the store is mounted at the operator's path, so the URIs the pods recorded are inside it."""
    ballast = str(Path(sys.executable).parent / "ballast")
    command = [ballast, *args, "--store", f"file://{STORE_MOUNT}"]
    return subprocess.run(
        with_store_mounted(shared_store_dir(), command),
        capture_output=True,
        text=True,
        timeout=120,
        env={"KUBECONFIG": str(kubeconfig), "PATH": "/usr/bin:/bin"},
    )


def run_ballast(k: Kubectl, *args: str) -> str:
    """Run the `ballast` user command against k's namespace, as a person would."""
    ballast = str(Path(sys.executable).parent / "ballast")
    result = subprocess.run(
        [ballast, *args, "-n", k.namespace],
        capture_output=True,
        text=True,
        timeout=300,
        env={"KUBECONFIG": str(k.kubeconfig), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr + result.stdout
    return result.stdout
