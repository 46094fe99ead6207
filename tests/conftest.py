"""Fixtures for tests against a real Kubernetes API server.

The session brings up the local cluster (tests/cluster/localcluster.py), or uses the one
KUBECONFIG names, installs Ballast's CRDs, and gives each test a namespace of its own.
Every test under integration/ and e2e/ is marked `cluster`, and so is every `tools` test (helm,
promtool), so `pytest -m "not cluster"` runs the fast ones alone, with nothing but Python.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.kube import REPO, Kubectl, install_crds, on_kind, shared_store_dir, wait_for

RESTRICTED_NAMESPACE_LABELS = (
    "pod-security.kubernetes.io/enforce=restricted",
    "pod-security.kubernetes.io/enforce-version=latest",
)
CLUSTER_DIRS = ("integration", "e2e", "badinput", "faults", "kind")
# Unique per session, so that two sessions on one cluster (and their operators) never meet.
NAMESPACE_PREFIX = f"t{uuid.uuid4().hex[:4]}-"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        in_cluster_dir = Path(item.fspath).resolve().relative_to(REPO / "tests").parts[0] in CLUSTER_DIRS
        # helm and promtool come from Go builds as the cluster's binaries do: `-m "not cluster"`
        # stays a Python-only run, and `make test` runs these with the cluster's tests
        if in_cluster_dir or item.get_closest_marker("tools") or item.get_closest_marker("index"):
            item.add_marker(pytest.mark.cluster)


# What tests measured on the cluster (the fault suite's recoveries, distributed training's
# memory), printed at the end of the run, even without -s.
FIGURES: list[tuple[str, str]] = []


def pytest_terminal_summary(terminalreporter) -> None:
    if FIGURES:
        terminalreporter.section("Ballast: measured")
        for test, line in FIGURES:
            terminalreporter.write_line(f"{test}: {line}")


@pytest.fixture
def report(request):
    """report("...") prints a measured figure now and in the run's summary."""

    def record(line: str) -> None:
        print(f"\n[measured] {line}", flush=True)
        FIGURES.append((request.node.name, line))

    return record


# A test that restarted the session's operator may end before the new one has taken its Lease.
LEADING_GRACE_SECONDS = 30
SESSION_OPERATOR: list = []
"""The ballast_operator fixture's process, once started."""


def _session_operator(item: pytest.Item):
    """The session's operator process when this test uses it and it was started, else None."""
    if "ballast_operator" not in getattr(item, "fixturenames", ()) or not SESSION_OPERATOR:
        return None
    return SESSION_OPERATOR[0]


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test that needs the session's operator fails at once, with the operator's log, once
    that operator is gone or no longer leads: waiting out each test's timeouts would say
    nothing more."""
    operator = _session_operator(item)
    if operator is None:
        return
    try:
        operator.wait_until_leading(timeout=LEADING_GRACE_SECONDS)
    except RuntimeError as gone:
        pytest.fail(str(gone), pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    operator = _session_operator(item)
    if report.failed and report.when == "call" and operator is not None:
        report.sections.append(("session operator", operator.state()))
    return report


@pytest.fixture(scope="session")
def kubeconfig() -> Path:
    if os.environ.get("KUBECONFIG"):
        return Path(os.environ["KUBECONFIG"])
    if on_kind():
        from tests.kind import kindcluster

        return kindcluster.up()
    sys.path.insert(0, str(REPO / "tests" / "cluster"))
    import localcluster

    return Path(localcluster.up())


@pytest.fixture(scope="session")
def kubectl(kubeconfig: Path) -> Kubectl:
    return Kubectl(kubeconfig)


@pytest.fixture(scope="session")
def api(kubeconfig: Path):
    from kubernetes import config

    return config.new_client_from_config(config_file=str(kubeconfig))


@pytest.fixture(scope="session")
def crds(kubectl: Kubectl) -> None:
    """Ballast's CRDs, applied, Established and served."""
    install_crds(kubectl)


def make_namespace(kubectl: Kubectl, *, restricted: bool = True, prefix: str = NAMESPACE_PREFIX) -> Iterator[str]:
    """A new namespace; the session operator watches it when it has the session's prefix."""
    name = f"{prefix}{uuid.uuid4().hex[:8]}"
    kubectl.run("create", "namespace", name)
    if restricted:
        kubectl.run("label", "namespace", name, *RESTRICTED_NAMESPACE_LABELS)
    wait_for(
        lambda: kubectl.run("get", "serviceaccount", "default", "-n", name, check=False).returncode == 0,
        timeout=30,
        message=f"default ServiceAccount in {name}",
    )
    yield name
    kubectl.run("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def namespace(kubectl: Kubectl) -> Iterator[str]:
    """A namespace of the test's own. It enforces the Pod Security Standard "restricted": each
    ingest, training and serving pod Ballast creates in any test must be admitted by it."""
    yield from make_namespace(kubectl)


@pytest.fixture
def unwatched_namespace(kubectl: Kubectl) -> Iterator[str]:
    """A namespace no operator of the session watches: for tests that write status themselves,
    through the status subresource, as the operator would (the session operator, watching the
    session's prefix, would write over it)."""
    yield from make_namespace(kubectl, prefix="unwatched-")


@pytest.fixture(scope="session")
def dask_operator(kubeconfig: Path, kubectl: Kubectl):
    """The dask-kubernetes operator, installed with its own chart (scripts/dask-operator.sh) into
    a restricted namespace of the session's own, which it alone serves (namespaced RBAC): the
    tests' DaskClusters and DaskJobs go there. The namespace has the session's prefix, so the
    session's Ballast operator watches it too: a distributed TrainingRun's DaskJob is made there.
    Its image is built once per change of engines/dask (podman's layer cache) and pushed once
    per registry."""
    from tests.support.dask_engine import install_dask_operator

    if on_kind():  # kind's node has no registry to push to; kindcluster.load_image would be the way
        pytest.fail("the dask_operator fixture pushes to the local cluster's registry: not on kind yet", pytrace=False)
    for namespace in make_namespace(kubectl, prefix=f"{NAMESPACE_PREFIX}dask-"):
        yield install_dask_operator(kubeconfig, namespace)


def session_namespaces(kubectl: Kubectl) -> list[str]:
    names = kubectl.run("get", "namespaces", "-o", "name").stdout.split()
    return [name.removeprefix("namespace/") for name in names if name.startswith(f"namespace/{NAMESPACE_PREFIX}")]


@pytest.fixture(scope="session")
def ballast_operator(kubeconfig: Path, kubectl: Kubectl, crds, tmp_path_factory) -> Path:
    """The operator, run as a local process against the cluster; yields its log file.

    At the end of the session its log must hold no traceback and no ERROR line: an operator
    that swallows its own failures would otherwise pass every test.
    """
    from tests.support.operator_process import OperatorProcess

    log = tmp_path_factory.mktemp("operator") / "operator.log"
    # Only the tests' namespaces: an operator the demo left running owns ballast-demo.
    with OperatorProcess(
        kubeconfig, log, store_dir=shared_store_dir(), namespaces=(f"{NAMESPACE_PREFIX}*",)
    ) as process:
        process.wait_until_leading()
        SESSION_OPERATOR.append(process)
        yield process
        # The operator removes its finalizers from the last tests' objects before it stops:
        # stopped first, it would leave their namespaces Terminating for good.
        try:
            wait_for(
                lambda: not session_namespaces(kubectl),
                timeout=60,
                interval=1,
                message="the session's namespaces deleted",
            )
        except AssertionError:  # reported, not failed: the tests themselves have passed or failed
            print(f"\nstill terminating after 60 s: {session_namespaces(kubectl)}")
    problems = process.log_problems()
    assert not problems, "operator log has errors:\n" + "\n".join(problems)
