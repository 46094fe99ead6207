"""Row 12 of issue 12 between tenants: `ballast gc` collects each namespace against its own part
of the store and its own objects, so what the attacker's objects say can neither keep nor
delete the victim's files.

The versions are planted in the store as the ingest pods lay them out (metadata.json and
data.parquet under `<namespace>/datasets/<name>/<sha256>/`), a year old, and gc runs with
`--older-than 300d`: it can then only ever delete what this test planted, never what the
suite's other tests ingested into the same tenants' namespaces.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from pathlib import Path

import pytest

from tests.security.conftest import Tenants
from tests.support.ballast_objects import run_ballast_on_store
from tests.support.kube import Kubectl, shared_store_dir
from tests.support.operator_process import STORE_MOUNT

A, B, C = ("a" * 64, "b" * 64, "c" * 64)
A_YEAR = 365 * 24 * 3600


def plant(namespace: str, dataset: str, sha256: str, age_seconds: float) -> Path:
    directory = shared_store_dir() / namespace / "datasets" / dataset / sha256
    directory.mkdir(parents=True)
    for name in ("data.parquet", "metadata.json"):
        (directory / name).write_bytes(b"planted by test_store_lifecycle")
        stamp = time.time() - age_seconds
        os.utime(directory / name, (stamp, stamp))
    return directory


def pinned_run(name: str, dataset: str, sha256: str) -> dict:
    """A TrainingRun whose spec pins a version: a reference as soon as it exists (no status needed)."""
    return {
        "apiVersion": "ballast.dev/v1alpha1",
        "kind": "TrainingRun",
        "metadata": {"name": name},
        "spec": {
            "model": name,
            "datasetRef": {"name": dataset, "version": sha256},
            "estimator": "sklearn.linear_model.LogisticRegression",
            "seed": 1,
            "backoffLimit": 0,
            "activeDeadlineSeconds": 60,
        },
    }


@pytest.fixture
def probe(tenants: Tenants):
    """A dataset name of the test's own, and its directories removed afterwards in both tenants."""
    name = f"gc-probe-{uuid.uuid4().hex[:6]}"
    yield name
    for tenant in (tenants.victim, tenants.attacker):
        shutil.rmtree(shared_store_dir() / tenant.namespace / "datasets" / name, ignore_errors=True)
        tenant.client.run("delete", "trainingruns,modelversions", "-l", f"gc-probe={name}", "--wait=false", check=False)


def test_row12_the_attackers_objects_neither_keep_nor_delete_the_victims_files(
    kubectl: Kubectl, tenants: Tenants, probe: str
):
    victim, attacker = tenants.victim, tenants.attacker
    # the victim: A pinned by its own run, B unreferenced, C the newest
    victim_dirs = {sha: plant(victim.namespace, probe, sha, A_YEAR - i * 3600) for i, sha in enumerate((A, B, C))}
    # the attacker: the same sha256 B in its own part, and a symlink to the victim's A in its part
    attacker_b = plant(attacker.namespace, probe, B, A_YEAR)
    os.symlink(
        f"{STORE_MOUNT}/{victim.namespace}/datasets/{probe}/{A}",
        shared_store_dir() / attacker.namespace / "datasets" / probe / A,
    )

    labels = {"gc-probe": probe}
    victims_run = pinned_run(f"{probe}-v", probe, A)
    victims_run["metadata"]["labels"] = labels
    victim.client.apply(victims_run)
    # the attacker pins the victim's B by name and sha256, hoping to keep it
    attackers_run = pinned_run(f"{probe}-a", probe, B)
    attackers_run["metadata"]["labels"] = labels
    attacker.client.apply(attackers_run)

    gc = (
        "gc",
        "-n",
        attacker.namespace,
        "-n",
        victim.namespace,
        "--keep-versions",
        "1",
        "--older-than",
        "300d",
        "--apply",
        "--verbose",
    )
    collected = run_ballast_on_store(kubectl.kubeconfig, *gc)
    assert collected.returncode == 0, collected.stderr + collected.stdout
    # the victim's B goes: the attacker's pin names the attacker's own part, not the victim's
    assert not victim_dirs[B].exists()
    assert (victim_dirs[A] / "metadata.json").is_file() and (victim_dirs[C] / "metadata.json").is_file()
    # and the same pin keeps the attacker's own B
    assert (attacker_b / "metadata.json").is_file()
    # the symlink in the attacker's part is not a version of the attacker's: never followed, never deleted through
    assert (victim_dirs[A] / "data.parquet").read_bytes() == b"planted by test_store_lifecycle"

    # a URI into the victim's part refuses the attacker's own collection, and only that one
    plant(victim.namespace, probe, B, A_YEAR)
    attacker.client.apply(
        {
            "apiVersion": "ballast.dev/v1alpha1",
            "kind": "ModelVersion",
            "metadata": {"name": f"{probe}-m", "labels": labels},
            "spec": {
                "model": probe,
                "artifact": {
                    "uri": f"file://{STORE_MOUNT}/{victim.namespace}/datasets/{probe}/{B}/data.parquet",
                    "sha256": B,
                },
            },
        }
    )
    refused = run_ballast_on_store(kubectl.kubeconfig, *gc)
    assert refused.returncode == 1
    attackers_report, victims_report = refused.stdout.split(f"namespace {victim.namespace}:\n")
    assert "refused:" in attackers_report and "refused" not in victims_report
    assert f"in 1 namespaces: {attacker.namespace}" in refused.stderr
    # its URI did not keep the victim's B either
    assert not victim_dirs[B].exists() and (victim_dirs[A] / "metadata.json").is_file()
