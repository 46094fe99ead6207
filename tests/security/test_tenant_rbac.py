"""What a tenant may do with the chart's tenant role, and nothing more: Ballast objects in its own
namespace; no pods, no Secrets, no workloads, no status, and nothing at all in another tenant's
namespace. The built-in edit and view roles gain the four kinds by aggregation."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.security.clients import ANONYMOUS, ImpersonatingKubectl, attempt
from tests.security.conftest import Tenants, bind
from tests.security.release import SecurityRelease
from tests.support.ballast_objects import dataset
from tests.support.kube import Kubectl, wait_for

# What would let a tenant run code or read credentials: none is in the chart's tenant role.
WORKLOAD_AND_CREDENTIAL_RIGHTS = [
    ("create", "pods"),
    ("create", "pods/exec"),
    ("create", "pods/attach"),
    ("create", "pods/portforward"),
    ("get", "secrets"),
    ("list", "secrets"),
    ("watch", "secrets"),
    ("create", "serviceaccounts/token"),
    ("create", "jobs.batch"),
    ("create", "cronjobs.batch"),
    ("create", "deployments.apps"),
    ("create", "replicasets.apps"),
    ("create", "statefulsets.apps"),
    ("create", "daemonsets.apps"),
    ("update", "deployments.apps/scale"),
    ("patch", "services"),
    ("create", "services"),
    ("create", "persistentvolumeclaims"),
    ("get", "configmaps"),
    ("create", "rolebindings.rbac.authorization.k8s.io"),
]
BALLAST_KINDS = ("datasets", "trainingruns", "modelversions", "driftpolicies")


def csv_dataset(name: str) -> dict:
    return dataset(name, {"url": "https://data.example/iris.csv"})


@pytest.fixture(scope="module")
def victims_dataset(tenants: Tenants) -> dict:
    """A Dataset the victim created itself, with its own rights."""
    name = f"victim-{uuid.uuid4().hex[:6]}"
    tenants.victim.client.apply(csv_dataset(name))
    return tenants.victim.client.get_json("dataset", name)


def test_attacker_can_neither_run_pods_nor_read_secrets_in_either_namespace(tenants: Tenants):
    attacker = tenants.attacker.client
    for namespace in (tenants.attacker.namespace, tenants.victim.namespace):
        granted = [right for right in WORKLOAD_AND_CREDENTIAL_RIGHTS if attacker.can(*right, namespace)]
        assert granted == [], f"in {namespace}"
        # and the requests themselves are refused, not only the review
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "mine", "namespace": namespace},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]},
        }
        assert attempt(attacker.in_namespace(namespace), "create", "-f", "-", manifest=pod).by_rbac
        assert attempt(attacker.in_namespace(namespace), "get", "secrets").by_rbac


def test_attacker_cannot_read_or_change_the_victims_ballast_objects(tenants: Tenants, victims_dataset: dict):
    attacker = tenants.attacker.client.in_namespace(tenants.victim.namespace)
    name = victims_dataset["metadata"]["name"]
    for kind in BALLAST_KINDS:
        assert attempt(attacker, "get", kind).by_rbac, kind
    assert attempt(attacker, "get", "dataset", name).by_rbac
    assert attempt(
        attacker,
        "patch",
        "dataset",
        name,
        "--type=merge",
        "-p",
        '{"spec":{"source":{"url":"http://169.254.169.254/"}}}',
    ).by_rbac
    assert attempt(attacker, "delete", "dataset", name).by_rbac
    planted = csv_dataset(f"planted-{uuid.uuid4().hex[:6]}")
    assert attempt(attacker, "create", "-f", "-", manifest=planted).by_rbac
    # no cluster-wide read either: RBAC is only namespace-scoped
    assert attempt(tenants.attacker.client, "get", "datasets", "--all-namespaces").by_rbac
    # unchanged: same object, same spec (the operator may have written status meanwhile)
    after = tenants.victim.client.get_json("dataset", name)
    assert after["metadata"]["uid"] == victims_dataset["metadata"]["uid"]
    assert after["metadata"]["generation"] == victims_dataset["metadata"]["generation"]
    assert json.dumps(after["spec"], sort_keys=True) == json.dumps(victims_dataset["spec"], sort_keys=True)


def test_a_tenant_manages_ballast_objects_in_its_own_namespace_but_never_their_status(tenants: Tenants):
    attacker = tenants.attacker.client
    name = f"own-{uuid.uuid4().hex[:6]}"
    attacker.apply(csv_dataset(name))  # the role is enough for a tenant's work
    assert attacker.get_json("dataset", name)["metadata"]["name"] == name
    # a forged status (a validated version that was never ingested) is refused
    forged = attempt(
        attacker,
        "patch",
        "dataset",
        name,
        "--subresource=status",
        "--type=merge",
        "-p",
        '{"status":{"conditions":[{"type":"Ready","status":"True"}]}}',
    )
    assert forged.by_rbac, forged.stderr
    for kind in BALLAST_KINDS:
        assert not attacker.can("patch", f"{kind}.ballast.dev/status", tenants.attacker.namespace), kind
    attacker.run("delete", "dataset", name, "--wait=false")


def test_built_in_edit_and_view_roles_gain_the_four_kinds_by_aggregation(
    kubectl: Kubectl, tenants: Tenants, security_release: SecurityRelease
):
    namespace = tenants.attacker.namespace
    editor = ImpersonatingKubectl(kubectl.kubeconfig, f"editor-{uuid.uuid4().hex[:6]}", namespace=namespace)
    viewer = ImpersonatingKubectl(kubectl.kubeconfig, f"viewer-{uuid.uuid4().hex[:6]}", namespace=namespace)
    bind(kubectl, namespace, editor.user, "edit")
    bind(kubectl, namespace, viewer.user, "view")
    # the aggregation controller copies the chart's rules into edit and view
    wait_for(
        lambda: all(
            editor.can(verb, f"{kind}.ballast.dev", namespace)
            for kind in BALLAST_KINDS
            for verb in ("create", "delete", "list")
        ),
        timeout=60,
        message="Ballast's kinds aggregated into the built-in edit role",
    )
    wait_for(
        lambda: all(viewer.can("list", f"{kind}.ballast.dev", namespace) for kind in BALLAST_KINDS),
        timeout=60,
        message="Ballast's kinds aggregated into the built-in view role",
    )
    assert not any(
        viewer.can(verb, f"{kind}.ballast.dev", namespace)
        for kind in BALLAST_KINDS
        for verb in ("create", "patch", "delete")
    )
    # still one namespace only, and status stays the operator's even with edit
    assert not editor.can("list", "datasets.ballast.dev", tenants.victim.namespace)
    assert not editor.can("patch", "datasets.ballast.dev/status", namespace)


def test_anonymous_requests_see_nothing_of_ballast(kubeconfig, tenants: Tenants):
    user, groups = ANONYMOUS
    anonymous = ImpersonatingKubectl(kubeconfig, user, groups, namespace=tenants.victim.namespace)
    for kind in BALLAST_KINDS:
        assert attempt(anonymous, "get", kind).by_rbac, kind
    assert attempt(anonymous, "get", "secrets").by_rbac
