"""Fixtures of the fault suite.

Fault tests run operators of their own, each watching only namespaces named for it: the
session's operator (conftest.ballast_operator) is never used here, because these tests kill
operators and restart the API server, and the session's operator must see neither.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.environment import FaultEnvironment
from tests.support.kube import Kubectl

# What the fault tests measured, printed at the end of the run (even without -s).
FIGURES: list[tuple[str, str]] = []

# Restarts the API server, which every running operator logs as ERROR lines. In `make test`,
# tests collected before this directory (badinput, e2e) start the session's operator, whose
# log must stay clean; so this one test runs before every other test of the session, while
# no session operator exists yet.
FIRST_IN_SESSION = "test_kube_apiserver_and_etcd_restart_while_the_operator_works"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: getattr(item, "originalname", item.name) != FIRST_IN_SESSION)


def pytest_terminal_summary(terminalreporter) -> None:
    if FIGURES:
        terminalreporter.section("Ballast fault suite: measured")
        for test, line in FIGURES:
            terminalreporter.write_line(f"{test}: {line}")


@pytest.fixture
def report(request):
    """report("...") prints a measured figure now and in the run's summary."""

    def record(line: str) -> None:
        print(f"\n[faults] {line}", flush=True)
        FIGURES.append((request.node.name, line))

    return record


@pytest.fixture
def faults(kubectl: Kubectl, kubeconfig: Path, crds, tmp_path: Path):
    """The test's own namespaces and operators (see FaultEnvironment); their logs in tmp_path."""
    environment = FaultEnvironment(kubectl, kubeconfig, tmp_path)
    yield environment
    environment.close()
