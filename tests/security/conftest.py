"""Fixtures of the hostile-tenant suite (tests/security/README.md).

Two tenant namespaces, victim and attacker, named outside the session operator's pattern: the
suite's own operator (`tenant_operator`) serves them, with the egress policy an administrator
would configure rather than the tests' permissive one. Each tenant is a
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

from tests.conftest import NAMESPACE_PREFIX, make_namespace
from tests.security.clients import ImpersonatingKubectl
from tests.security.pod_network import FakeMetadataServer, PodNetworkClient, SlowServer
from tests.security.release import SecurityRelease
from tests.security.served import Served, serve_both
from tests.support.kube import Kubectl, shared_store_dir, wait_for
from tests.support.operator_process import OperatorProcess

HERE = Path(__file__).resolve().parent
ATTACKER, VICTIM = "mallory", "victor"
# Not `NAMESPACE_PREFIX*`: the session's operator (`ballast_operator`, which other suites of a
# `make test` session start) must not reconcile the tenants next to the suite's own operator.
TENANT_PREFIX = f"s{NAMESPACE_PREFIX}"


AFTER_EVERY_ATTACK = "after_every_attack"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{AFTER_EVERY_ATTACK}: runs after every other test of the session "
        "(the victim's state compared with what it was before the attacks)",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # every test here needs the real cluster (tests/conftest.py marks the other cluster directories)
    ours = [item for item in items if HERE in Path(item.fspath).resolve().parents]
    for item in ours:
        item.add_marker(pytest.mark.cluster)
    # the attacks live in several modules; the check that they changed nothing of the victim's
    # comes after the suite's last one
    last = [item for item in ours if item.get_closest_marker(AFTER_EVERY_ATTACK)]
    attacks = [item for item in ours if item not in last]
    if last and attacks:
        for item in last:
            items.remove(item)
        after = items.index(attacks[-1]) + 1
        items[after:after] = last


@dataclass(frozen=True)
class Tenant:
    namespace: str
    client: ImpersonatingKubectl
    """The tenant, in its own namespace; `client.in_namespace(other)` to try elsewhere."""


@dataclass(frozen=True)
class Tenants:
    victim: Tenant
    attacker: Tenant


def bind(kubectl: Kubectl, namespace: str, user: str, cluster_role: str) -> str:
    """A RoleBinding of the ClusterRole to the user in the namespace; its name."""
    name = f"{user}-{cluster_role}"[:63]
    kubectl.in_namespace(namespace).apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cluster_role},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
        }
    )
    return name


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
        victim_ns, attacker_ns = (
            stack.enter_context(contextlib.contextmanager(make_namespace)(kubectl, prefix=TENANT_PREFIX))
            for _ in range(2)
        )
        for namespace, user in ((victim_ns, VICTIM), (attacker_ns, ATTACKER)):
            bind(kubectl, namespace, user, security_release.tenant_edit_role)
        victim = ImpersonatingKubectl(kubeconfig, VICTIM, namespace=victim_ns)
        attacker = ImpersonatingKubectl(kubeconfig, ATTACKER, namespace=attacker_ns)
        # RBAC takes effect when the API server's informer has the binding
        for client, namespace in ((victim, victim_ns), (attacker, attacker_ns)):
            wait_for(
                lambda: client.can("create", "datasets.ballast.dev", namespace),
                timeout=30,
                message=f"{client.user}'s role in {namespace}",
            )
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


# --- the suite's operator ---------------------------------------------------------------------

POD_RANGE = "10.244.0.0/16"
"""The local cluster's pod range. Its bridge CNI leaves the Nodes' spec.podCIDRs empty, so the
operator cannot discover it: an administrator lists it (chart value egress.clusterCIDRs), as
docs/security.md says to, and so does this suite. The fake metadata server on the pod gateway
(10.244.0.1) is then reachable (test_pod_network.py) yet refused by the policy: a real test of
the policy, where an address that cannot be reached at all (169.254.169.254 here) would not be."""
BALLAST_KINDS = "datasets.ballast.dev,trainingruns.ballast.dev,modelversions.ballast.dev,driftpolicies.ballast.dev"


@pytest.fixture(scope="session")
def allowed_slow_server() -> Iterator[SlowServer]:
    """A slow server the operator's egress policy allows by host:port, as an administrator allows
    an in-cluster Prometheus: what a dripping allowed server costs is the deadline, no more."""
    with SlowServer(drip_seconds=120) as server:
        yield server


@pytest.fixture(scope="session")
def tenant_operator(
    kubeconfig: Path, kubectl: Kubectl, tenants: Tenants, allowed_slow_server: SlowServer, tmp_path_factory
) -> Iterator[OperatorProcess]:
    """The operator of the two tenants' namespaces, with the default egress policy plus what an
    administrator configures: the pod range denied (POD_RANGE), one allowed Prometheus address.
    No custom images (the default). It stops only after the tenants' Ballast objects are gone,
    so that no finalizer outlives it and the namespaces delete."""
    namespaces = (tenants.victim.namespace, tenants.attacker.namespace)
    slow = allowed_slow_server.url.removeprefix("http://")
    env = {"BALLAST_EGRESS_ALLOW": slow, "BALLAST_EGRESS_CLUSTER_CIDRS": POD_RANGE}
    log = tmp_path_factory.mktemp("tenant-operator") / "operator.log"
    with OperatorProcess(kubeconfig, log, store_dir=shared_store_dir(), env=env, namespaces=namespaces) as process:
        yield process
        for namespace in namespaces:
            kubectl.run(
                "delete",
                BALLAST_KINDS,
                "--all",
                "-n",
                namespace,
                "--wait=true",
                "--timeout=90s",
                check=False,
                timeout=120,
            )
    problems = process.log_problems()
    assert not problems, "the tenants' operator log has errors:\n" + "\n".join(problems)


@pytest.fixture(scope="session")
def served(kubectl: Kubectl, tenants: Tenants, tenant_operator: OperatorProcess) -> Served:
    """One served model per tenant (served.py), for every attack of the suite."""
    return serve_both(kubectl, tenants)
