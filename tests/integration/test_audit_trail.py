"""Issue 15's audit trail on the real cluster: a Dataset ingested, a model trained, registered and
promoted by the session operator; every Ballast object of the model deleted; `ballast audit`
still prints the trail from the store and verifies it, and names the line edited behind its back.

`ballast audit` runs as an administrator runs it, with the store mounted at the operator's path
(tests/support/ballast_objects.run_ballast_on_store).
"""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.support.ballast_objects import (
    dataset,
    iris_rows,
    run_ballast_on_store,
    training_run,
    wait_for_condition,
    wait_for_stage,
)
from tests.support.kstatus import BALLAST_RESOURCES
from tests.support.kube import Kubectl, shared_store_dir


@pytest.fixture
def k(kubectl: Kubectl, namespace: str, ballast_operator) -> Kubectl:
    return kubectl.in_namespace(namespace)


def audit(k: Kubectl, *args: str) -> subprocess.CompletedProcess:
    return run_ballast_on_store(k.kubeconfig, "audit", *args, "-n", k.namespace)


def entries(k: Kubectl, *args: str) -> list[dict]:
    shown = audit(k, *args, "-o", "json")
    assert shown.returncode == 0, shown.stderr + shown.stdout
    return json.loads(shown.stdout)["items"]


def test_the_trail_outlives_the_models_objects_and_an_edited_line_is_named(k: Kubectl, namespace: str):
    k.apply(dataset("iris", {"inline": {"rows": iris_rows()}}))
    run = training_run("first", "iris")
    run["spec"]["modelVersionTemplate"] = {"serving": {"replicas": 1}, "rollout": {"strategy": "Immediate"}}
    k.apply(run)
    trained = wait_for_condition(k, "trainingrun", "first", "Succeeded", timeout=180)
    version = trained["status"]["modelVersion"]
    wait_for_stage(k, version, "Production")

    # --- every Ballast object of the model goes --------------------------------------------------
    k.run("delete", BALLAST_RESOURCES, "--all", "--wait=true", "--timeout=120s")
    assert not k.get_json(BALLAST_RESOURCES)["items"]

    # --- the trail is still there, verified, with the run, the registration and the promotion ----
    shown = audit(k, "iris")
    assert shown.returncode == 0, shown.stderr + shown.stdout
    assert shown.stdout.strip().splitlines()[-1].startswith("verified: ")
    recorded = entries(k, "iris")
    decided = [(entry["kind"], entry["name"], entry["reason"]) for entry in recorded]
    assert ("TrainingRun", "first", "Trained") in decided, decided
    assert ("ModelVersion", version, "Verified") in decided, decided
    assert ("ModelVersion", version, "Promoted") in decided, decided
    ids = [entry["id"] for entry in recorded]
    assert len(ids) == len(set(ids)) and [entry["seq"] for entry in recorded] == list(range(1, len(ids) + 1))
    assert "NewVersion" in {entry["reason"] for entry in entries(k, "iris", "--dataset")}
    assert entries(k, "iris", "--since", "2999-01-01T00:00:00Z") == []

    # --- one line edited behind Ballast's back: named -----------------------------------------------
    log = shared_store_dir() / "ballast.audit" / namespace / "models" / "iris.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    trained_line = next(n for n, line in enumerate(lines) if json.loads(line)["reason"] == "Trained")
    lines[trained_line] = lines[trained_line].replace(b'"reason":"Trained"', b'"reason":"GateFailed"')
    log.write_bytes(b"".join(lines))
    broken = audit(k, "iris")
    assert broken.returncode == 1
    assert f"is broken at line {trained_line + 1}: it was changed" in broken.stderr, broken.stderr
