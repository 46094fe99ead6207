"""Fixtures of the hostile-tenant suite (tests/security/README.md).

Two tenant namespaces, victim and attacker, named with the session's prefix so that the
session's operator serves them when a test asks for it (`ballast_operator`). Each tenant is a
user known only by name and reached by impersonation, bound in its own namespace to the chart's
tenant role (`<release>-edit`): what a platform team gives a team, no pods and no Secrets. The
operator's identity is the chart's ServiceAccount, impersonated too, with the chart's RBAC and
its ValidatingAdmissionPolicy in force. On the pod network: a client pod with no credentials,
and servers the test runs on the host (pod_network.py).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import make_namespace
from tests.security.clients import ImpersonatingKubectl
from tests.security.pod_network import FakeMetadataServer, PodNetworkClient, SlowServer
from tests.security.release import SecurityRelease
from tests.support.kube import Kubectl, wait_for

HERE = Path(__file__).resolve().parent
ATTACKER, VICTIM = "mallory", "victor"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # every test here needs the real cluster (tests/conftest.py marks the other cluster directories)
    for item in items:
        if HERE in Path(item.fspath).resolve().parents:
            item.add_marker(pytest.mark.cluster)


@dataclass(frozen=True)
class Tenant:
    namespace: str
    client: ImpersonatingKubectl
    """The tenant, in its own namespace; `client.in_namespace(other)` to try elsewhere."""


@dataclass(frozen=True)
class Tenants:
    victim: Tenant
    attacker: Tenant


def bind(kubectl: Kubectl, namespace: str, user: str, cluster_role: str) -> None:
    name = f"{user}-{cluster_role}"[:63]
    kubectl.in_namespace(namespace).apply({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": name, "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cluster_role},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    })


@pytest.fixture(scope="session")
def security_release(kubectl: Kubectl, crds) -> Iterator[SecurityRelease]:
    """The chart's ServiceAccount, RBAC, tenant roles and admission policy, applied, in a
    namespace of their own outside the session operator's pattern."""
    with contextlib.contextmanager(make_namespace)(kubectl, prefix="sec-") as namespace:
        release = SecurityRelease(kubectl, namespace)
        release.apply()
        try:
            yield release
        finally:
            release.delete()


@pytest.fixture(scope="session")
def tenants(kubectl: Kubectl, kubeconfig: Path, security_release: SecurityRelease) -> Iterator[Tenants]:
    with contextlib.ExitStack() as stack:
        victim_ns, attacker_ns = (stack.enter_context(contextlib.contextmanager(make_namespace)(kubectl))
                                  for _ in range(2))
        for namespace, user in ((victim_ns, VICTIM), (attacker_ns, ATTACKER)):
            bind(kubectl, namespace, user, security_release.tenant_edit_role)
        victim = ImpersonatingKubectl(kubeconfig, VICTIM, namespace=victim_ns)
        attacker = ImpersonatingKubectl(kubeconfig, ATTACKER, namespace=attacker_ns)
        # RBAC takes effect when the API server's informer has the binding
        for client, namespace in ((victim, victim_ns), (attacker, attacker_ns)):
            wait_for(lambda: client.can("create", "datasets.ballast.dev", namespace), timeout=30,
                     message=f"{client.user}'s role in {namespace}")
        yield Tenants(Tenant(victim_ns, victim), Tenant(attacker_ns, attacker))


@pytest.fixture(scope="session")
def operator_account(kubeconfig: Path, security_release: SecurityRelease) -> ImpersonatingKubectl:
    """The chart's operator ServiceAccount, in the release's namespace (the one it may work in)."""
    return ImpersonatingKubectl(kubeconfig, security_release.operator_user, namespace=security_release.namespace)


@pytest.fixture(scope="session")
def pod_network_client(kubectl: Kubectl, tenants: Tenants) -> Iterator[PodNetworkClient]:
    """An unauthenticated client on the pod network: a pod in the attacker's namespace, no token."""
    client = PodNetworkClient(kubectl, tenants.attacker.namespace, name=f"client-{uuid.uuid4().hex[:6]}").start()
    yield client
    client.stop()


@pytest.fixture
def metadata_server() -> Iterator[FakeMetadataServer]:
    with FakeMetadataServer() as server:
        yield server


@pytest.fixture
def slow_server() -> Iterator[SlowServer]:
    with SlowServer() as server:
        yield server
