"""Who approved a promotion, on the real API server with the chart's approvals policy in force:
`kubectl ballast approve` names the user the API server authenticated (a ServiceAccount's
token, not a name the client chose), and nobody can set the annotation ballast.dev/approved-by
to another's name, nor approve on a name someone else left.

No operator reconciles these versions (an unwatched namespace): the policy and the plugin are
what is tested; the operator's copy of the name into status.approval and the audit trail is
tested in tests/unit/test_reconcile_serving.py and test_audit_trail.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ballast.api.annotations import APPROVED_BY_ANNOTATION
from tests.security.clients import ImpersonatingKubectl, attempt
from tests.security.conftest import bind
from tests.security.release import SecurityRelease
from tests.support.kube import Kubectl, fields_of, kubectl_binary, wait_for

APPROVER = "ada"
SHA = "a" * 64


@pytest.fixture
def k(kubectl: Kubectl, unwatched_namespace: str, security_release: SecurityRelease) -> Kubectl:
    return kubectl.in_namespace(unwatched_namespace)


def version(name: str) -> dict:
    return {
        "apiVersion": "ballast.dev/v1alpha1",
        "kind": "ModelVersion",
        "metadata": {"name": name},
        "spec": {
            "model": "fraud",
            "artifact": {"uri": f"file:///var/lib/ballast/models/fraud/{SHA}/model.skops", "sha256": SHA},
            "rollout": {"strategy": "Canary", "steps": [50], "autoPromote": False},
        },
    }


def patch(client: Kubectl, name: str, change: dict, *flags: str):
    return attempt(client, "patch", "modelversion", name, "--type=merge", "-p", json.dumps(change), *flags)


def naming(user: str | None) -> dict:
    return {"metadata": {"annotations": {APPROVED_BY_ANNOTATION: user}}}


APPROVED = {"spec": {"rollout": {"approved": True}}}
UNAPPROVED = {"spec": {"rollout": {"approved": False}}}


def test_an_approval_may_name_only_the_user_who_makes_it(k: Kubectl, security_release: SecurityRelease):
    policy = security_release.approvals_policy_name
    bind(k, k.namespace, APPROVER, security_release.tenant_edit_role)
    ada = ImpersonatingKubectl(k.kubeconfig, APPROVER, namespace=k.namespace)
    wait_for(lambda: ada.can("patch", "modelversions.ballast.dev", k.namespace), timeout=30, message="ada's role")
    admin = k.run("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}").stdout.strip()
    ada.apply(version("fraud-b"))

    # the API server reports the first policy that denies, so another release's would hide this one's
    policies = k.run(
        "get", "validatingadmissionpolicies", "--selector", "app.kubernetes.io/component=admission-policy", "-o", "name"
    ).stdout.split()
    others = [name for name in policies if name.endswith("-approvals") and not name.endswith(f"/{policy}")]
    assert not others, f"another Ballast release's approvals policy is in force: {others}"

    # a name of someone else's is refused, once the API server has compiled the policy: probed with
    # a server-side dry run, since a probe admitted before that would leave the name, and the
    # policy admits a name left unchanged
    wait_for(
        lambda: patch(ada, "fraud-b", naming("grace"), "--dry-run=server").denied_by_policy(policy),
        timeout=30,
        interval=0.5,
        message=f"ValidatingAdmissionPolicy {policy} in force",
    )
    forged = patch(ada, "fraud-b", {**naming("grace"), **APPROVED})
    assert forged.denied_by_policy(policy) and f"may name only the user making the request ({APPROVER})" in (
        forged.stderr
    ), forged.stderr

    # her own name, with the approval, in one request: admitted
    assert patch(ada, "fraud-b", {**naming(APPROVER), **APPROVED}).returncode == 0
    # withdrawn and approved again by another user on ada's name: refused, naming both
    assert patch(ada, "fraud-b", UNAPPROVED).returncode == 0
    borrowed = patch(k, "fraud-b", APPROVED)
    assert borrowed.denied_by_policy(policy), borrowed.stderr
    assert f"names {APPROVER}, not the user approving ({admin})" in borrowed.stderr
    # without a name at all (a kubectl patch, Argo CD): the field manager is the record, as before
    assert patch(k, "fraud-b", {**naming(None), **APPROVED}).returncode == 0
    assert APPROVED_BY_ANNOTATION not in (k.get_json("modelversion", "fraud-b")["metadata"].get("annotations") or {})


def test_kubectl_ballast_approve_names_the_authenticated_service_account(
    k: Kubectl, security_release: SecurityRelease, tmp_path: Path
):
    k.run("create", "serviceaccount", "releaser")
    account = f"system:serviceaccount:{k.namespace}:releaser"
    bind(k, k.namespace, account, security_release.tenant_edit_role)
    k.apply(version("fraud-c"))
    canary = {"stage": "Canary", "trafficPercent": 50, "canary": {"step": 0, "stepStartedAt": "2026-01-01T00:00:00Z"}}
    canary["canary"]["passedAllSteps"] = True
    k.run(
        "patch", "modelversion", "fraud-c", "--subresource=status", "--type=merge", "-p", json.dumps({"status": canary})
    )

    kubeconfig = token_kubeconfig(k, "releaser", tmp_path / "releaser.yaml")
    wait_for(
        lambda: approve(kubeconfig, "fraud-c", k.namespace).returncode == 0,
        timeout=30,
        interval=0.5,
        message="releaser's role",
    )
    approved = k.get_json("modelversion", "fraud-c", "--show-managed-fields")
    assert approved["spec"]["rollout"]["approved"] is True
    assert approved["metadata"]["annotations"][APPROVED_BY_ANNOTATION] == account
    assert fields_of("kubectl-ballast", approved) == {
        ("metadata", "annotations", APPROVED_BY_ANNOTATION),
        ("spec", "rollout", "approved"),
    }


def token_kubeconfig(k: Kubectl, account: str, path: Path) -> Path:
    """A kubeconfig that authenticates with the ServiceAccount's own token, as a CI job's would."""
    token = k.run("create", "token", account).stdout.strip()
    admin = yaml.safe_load(Path(k.kubeconfig).read_text())
    cluster = admin["clusters"][0]
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [cluster],
                "users": [{"name": account, "user": {"token": token}}],
                "contexts": [{"name": account, "context": {"cluster": cluster["name"], "user": account}}],
                "current-context": account,
            }
        )
    )
    return path


def approve(kubeconfig: Path, name: str, namespace: str) -> subprocess.CompletedProcess:
    bin_dir = Path(sys.executable).parent
    return subprocess.run(
        [kubectl_binary(), "ballast", "approve", name, "-n", namespace],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", "KUBECONFIG": str(kubeconfig), "HOME": "/nonexistent"},
    )
