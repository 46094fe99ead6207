"""Row 12 of issue 12 on the real cluster: a dataset version pinned by a TrainingRun outlives the
Dataset's status history (it is resolved from the store), `ballast gc` deletes only what nothing
references and retention does not keep (dry run first), and `ballast erase dataset` lists what
it invalidates, refuses a Production model's data unless forced, and then removes the version.

Every version is ingested and every model trained by the session operator's Jobs on the real
node; `ballast gc` and `ballast erase` run as an administrator runs them, with the store mounted
at the operator's path (tests/support/ballast_objects.run_ballast_on_store).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.support.ballast_objects import (
    condition,
    dataset,
    iris_rows,
    run_ballast_on_store,
    training_run,
    wait_for_condition,
    wait_for_stage,
)
from tests.support.kube import Kubectl, shared_store_dir, wait_for

HISTORY = 2
# Each version a different number of rows, so that each is a different content (and sha256).
ROWS = (150, 140, 130, 120)


@pytest.fixture
def k(kubectl: Kubectl, namespace: str, ballast_operator) -> Kubectl:
    return kubectl.in_namespace(namespace)


def ballast_on_store(k: Kubectl, *args: str) -> subprocess.CompletedProcess:
    return run_ballast_on_store(k.kubeconfig, *args, "-n", k.namespace)


def version_dir(namespace: str, kind: str, name: str, sha256: str) -> Path:
    return shared_store_dir() / namespace / kind / name / sha256


def ingest(k: Kubectl, rows: int, previous: str | None) -> str:
    """Applies the Dataset with the first `rows` rows of iris; the new latestVersion."""
    body = dataset("iris", {"inline": {"rows": iris_rows()[:rows]}})
    body["spec"]["versionHistoryLimit"] = HISTORY
    k.apply(body)

    def ingested():
        status = k.get_json("dataset", "iris").get("status") or {}
        latest = status.get("latestVersion")
        return (
            latest
            if latest and latest != previous and condition({"status": status}, "Ready").get("status") == "True"
            else None
        )

    return wait_for(ingested, timeout=120, interval=1, message=f"Dataset iris ingested with {rows} rows")


def trained(k: Kubectl, name: str) -> dict:
    document = wait_for_condition(k, "trainingrun", name, "Succeeded", timeout=180)
    assert condition(document, "Succeeded")["status"] == "True", condition(document, "Succeeded")
    return document


def test_pinned_versions_outlive_the_history_gc_keeps_what_is_referenced_and_erase_lists_what_it_breaks(
    k: Kubectl, namespace: str
):
    # --- v1, a model trained on it in Production ------------------------------------------------
    v1 = ingest(k, ROWS[0], None)
    first = training_run("first", "iris")
    first["spec"]["modelVersionTemplate"] = {"serving": {"replicas": 1}, "rollout": {"strategy": "Immediate"}}
    k.apply(first)
    run = trained(k, "first")
    assert run["status"]["datasetVersion"] == v1
    model_version = run["status"]["modelVersion"]
    artifact = k.get_json("modelversion", model_version)["spec"]["artifact"]["sha256"]
    wait_for_stage(k, model_version, "Production")

    # --- three more versions: v1 and v2 fall off the two-entry history ---------------------------
    v2 = ingest(k, ROWS[1], v1)
    v3 = ingest(k, ROWS[2], v2)
    v4 = ingest(k, ROWS[3], v3)
    assert len({v1, v2, v3, v4}) == 4
    listed = [v["sha256"] for v in k.get_json("dataset", "iris")["status"]["versions"]]
    assert listed == [v4, v3]

    # --- a run pinned to v1 still trains: the version is resolved from the store's metadata ---------
    k.apply(training_run("pinned-to-v1", "iris", version=v1))
    pinned = trained(k, "pinned-to-v1")
    assert pinned["status"]["datasetVersion"] == v1
    assert pinned["status"]["artifact"]["sha256"] == artifact  # the same data and seed: the same model

    # --- gc, dry run: lists v2 (nothing references it, not the newest), deletes nothing -------------
    for sha256 in (v1, v2, v3, v4):
        assert (version_dir(namespace, "datasets", "iris", sha256) / "metadata.json").is_file()
    dry = ballast_on_store(k, "gc", "--keep-versions", "1", "--verbose")
    assert dry.returncode == 0, dry.stderr + dry.stdout
    assert f"datasets/iris/{v2}" in dry.stdout.split("KEPT")[0]
    assert re.search(r"would delete 1 of 5 versions \(\d+ bytes\); 4 kept as referenced", dry.stdout), dry.stdout
    assert "dry run: nothing was deleted" in dry.stdout
    assert version_dir(namespace, "datasets", "iris", v2).is_dir()

    # --- gc --apply: only v2 goes; the pinned v1, the listed v3 and v4 and the model's artifact stay --
    applied = ballast_on_store(k, "gc", "--keep-versions", "1", "--apply")
    assert applied.returncode == 0, applied.stderr + applied.stdout
    assert "deleted 1 of 5 versions" in applied.stdout
    assert not version_dir(namespace, "datasets", "iris", v2).exists()
    for sha256 in (v1, v3, v4):
        assert (version_dir(namespace, "datasets", "iris", sha256) / "data.parquet").is_file()
    assert any(version_dir(namespace, "models", "iris", artifact).iterdir())

    # --- erase v1: lists both runs and the Production model, refused without --force ----------------
    refused = ballast_on_store(k, "erase", "dataset", "iris", "--version", v1, "--apply")
    assert refused.returncode == 1
    assert "invalidates 2 TrainingRuns" in refused.stdout
    assert "TrainingRun first" in refused.stdout and "TrainingRun pinned-to-v1" in refused.stdout
    assert f"ModelVersion {model_version} (stage Production)" in refused.stdout
    assert "refused:" in refused.stdout and "--force" in refused.stdout
    assert (version_dir(namespace, "datasets", "iris", v1) / "metadata.json").is_file()

    forced = ballast_on_store(k, "erase", "dataset", "iris", "--version", v1, "--force", "--apply")
    assert forced.returncode == 0, forced.stderr + forced.stdout
    assert f"erased datasets/iris/{v1}" in forced.stdout
    assert not version_dir(namespace, "datasets", "iris", v1).exists()
    # what was built on it is listed, never deleted: the model keeps serving from its artifact
    assert any(version_dir(namespace, "models", "iris", artifact).iterdir())
    assert k.get_json("modelversion", model_version)["status"]["stage"] == "Production"

    # --- and a run pinned to the erased version now waits for it, with the reason ------------------
    k.apply(training_run("pinned-to-erased", "iris", version=v1))
    waiting = wait_for_condition(k, "trainingrun", "pinned-to-erased", "Ready", statuses=("False",), timeout=60)
    ready = condition(waiting, "Ready")
    assert ready["reason"] == "DatasetNotReady" and "neither in its status history nor in the store" in ready["message"]
