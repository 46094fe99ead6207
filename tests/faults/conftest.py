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

# Restarts the API server, which every running operator logs as ERROR lines. In `make test`,
# tests collected before this directory (badinput, e2e) start the session's operator, whose
# log must stay clean; so this one test runs before every other test of the session, while
# no session operator exists yet.
FIRST_IN_SESSION = "test_kube_apiserver_and_etcd_restart_while_the_operator_works"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: getattr(item, "originalname", item.name) != FIRST_IN_SESSION)


@pytest.fixture
def faults(kubectl: Kubectl, kubeconfig: Path, crds, tmp_path: Path):
    """The test's own namespaces and operators (see FaultEnvironment); their logs in tmp_path."""
    environment = FaultEnvironment(kubectl, kubeconfig, tmp_path)
    yield environment
    environment.close()
