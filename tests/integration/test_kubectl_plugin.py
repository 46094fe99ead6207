"""`kubectl ballast` through the real kubectl binary against the real API server: kubectl finds
the plugin on PATH, `status -o json` reads live ModelVersions, `approve` and `abort` write only
their one field under the kubectl-ballast field manager, and a missing object or RBAC denial
is one line with its exit code. No operator runs: the stages are set through the status
subresource as the operator would write them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ballast.api.annotations import APPROVED_BY_ANNOTATION
from ballast.commands.errors import ExitCode
from ballast.reconcile.serving import approval_manager
from tests.support.kube import Kubectl, fields_of, kubectl_binary

BIN = Path(sys.executable).parent
SHA = "b" * 64


@pytest.fixture
def k(kubectl: Kubectl, unwatched_namespace: str, crds) -> Kubectl:
    return kubectl.in_namespace(unwatched_namespace)


def kubectl_ballast(k: Kubectl, *args: str, kubeconfig: Path | None = None) -> subprocess.CompletedProcess:
    """`kubectl ballast ...` as a person runs it: the plugin found on PATH by kubectl itself."""
    return subprocess.run(
        [kubectl_binary(), "ballast", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": f"{BIN}:/usr/bin:/bin", "KUBECONFIG": str(kubeconfig or k.kubeconfig), "HOME": "/nonexistent"},
    )


def create_version(k: Kubectl, name: str, status: dict, rollout: dict | None = None) -> None:
    spec = {
        "model": "fraud",
        "artifact": {"uri": f"file:///var/lib/ballast/models/fraud/{SHA}/model.skops", "sha256": SHA},
        "serving": {"enabled": True, "replicas": 2},
        **({"rollout": rollout} if rollout else {}),
    }
    k.apply({"apiVersion": "ballast.dev/v1alpha1", "kind": "ModelVersion", "metadata": {"name": name}, "spec": spec})
    k.run("patch", "modelversion", name, "--subresource=status", "--type=merge", "-p", json.dumps({"status": status}))


def test_status_approve_and_abort_through_kubectl_on_live_objects(k: Kubectl):
    create_version(k, "fraud-a", {"stage": "Production", "trafficPercent": 75, "replicas": 2, "readyReplicas": 2})
    create_version(
        k,
        "fraud-b",
        {
            "stage": "Canary",
            "trafficPercent": 25,
            "replicas": 1,
            "readyReplicas": 1,
            "canary": {"step": 1, "stepStartedAt": "2026-01-01T00:00:00Z", "passedAllSteps": True},
        },
        rollout={"strategy": "Canary", "steps": [10, 25], "autoPromote": False},
    )

    listed = subprocess.run(
        [kubectl_binary(), "plugin", "list"], capture_output=True, text=True, env={"PATH": f"{BIN}:/usr/bin:/bin"}
    )
    assert str(BIN / "kubectl-ballast") in listed.stdout

    shown = kubectl_ballast(k, "status", "-n", k.namespace, "-o", "json")
    assert shown.returncode == 0, shown.stderr
    (fraud,) = json.loads(shown.stdout)["models"]
    assert (fraud["namespace"], fraud["production"], fraud["canary"]) == (k.namespace, "fraud-a", "fraud-b")
    assert [(v["name"], v["stage"], v["traffic_percent"]) for v in fraud["versions"]] == [
        ("fraud-b", "Canary", 25),
        ("fraud-a", "Production", 75),
    ]
    assert fraud["versions"][0]["canary"] == "all 2 steps passed, awaiting approval"
    everywhere = kubectl_ballast(k, "status", "fraud", "-A")
    assert everywhere.returncode == 0 and f"{k.namespace}   fraud" in everywhere.stdout, everywhere.stdout

    before = k.get_json("modelversion", "fraud-b")
    approved = kubectl_ballast(k, "approve", "fraud-b", "-n", k.namespace)
    assert approved.returncode == 0, approved.stderr
    assert approved.stdout.strip() == "approved fraud-b: it is promoted now"
    after = k.get_json("modelversion", "fraud-b", "--show-managed-fields")
    assert after["spec"]["rollout"] == {**before["spec"]["rollout"], "approved": True}
    assert {key: value for key, value in after["spec"].items() if key != "rollout"} == {
        key: value for key, value in before["spec"].items() if key != "rollout"
    }
    # the operator records the approver from the field manager the API server stored, and the
    # user the API server authenticated from the annotation the plugin wrote beside it
    assert approval_manager(after["metadata"]["managedFields"]) == "kubectl-ballast"
    admin = k.run("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}").stdout.strip()
    assert after["metadata"]["annotations"][APPROVED_BY_ANNOTATION] == admin
    assert fields_of("kubectl-ballast", after) == {
        ("metadata", "annotations", APPROVED_BY_ANNOTATION),
        ("spec", "rollout", "approved"),
    }
    again = kubectl_ballast(k, "approve", "fraud-b", "-n", k.namespace)
    assert again.returncode == 0 and "already approved" in again.stdout

    aborted = kubectl_ballast(k, "abort", "fraud-b", "-n", k.namespace, "-o", "yaml")
    assert aborted.returncode == 0, aborted.stderr
    assert yaml.safe_load(aborted.stdout)["spec"]["serving"] == {"enabled": False, "replicas": 2}
    refused = kubectl_ballast(k, "abort", "fraud-a", "-n", k.namespace)
    assert refused.returncode == ExitCode.FAILED and refused.stderr.startswith("error: fraud-a is Production")

    missing = kubectl_ballast(k, "approve", "fraud-z", "-n", k.namespace)
    assert (missing.returncode, missing.stderr) == (
        ExitCode.NOT_FOUND,
        f"error: not found: ModelVersion fraud-z in namespace {k.namespace}\n",
    )


def test_a_user_without_rbac_gets_one_forbidden_line(k: Kubectl, tmp_path: Path):
    k.run("create", "serviceaccount", "nobody")
    token = k.run("create", "token", "nobody").stdout.strip()
    admin = yaml.safe_load(Path(k.kubeconfig).read_text())
    cluster = admin["clusters"][0]
    kubeconfig = tmp_path / "nobody.yaml"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [cluster],
                "users": [{"name": "nobody", "user": {"token": token}}],
                "contexts": [{"name": "nobody", "context": {"cluster": cluster["name"], "user": "nobody"}}],
                "current-context": "nobody",
            }
        )
    )
    denied = kubectl_ballast(k, "status", "-n", k.namespace, kubeconfig=kubeconfig)
    assert denied.returncode == ExitCode.FORBIDDEN, denied.stderr
    assert denied.stderr.startswith("error: forbidden: modelversions.ballast.dev is forbidden: User ")
    assert denied.stderr.count("\n") == 1
