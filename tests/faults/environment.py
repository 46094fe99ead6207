"""Namespaces and operators of a fault test's own.

Every namespace of this session's fault tests starts with FAULT_PREFIX, so two sessions on
one cluster never share one, nor one of the session's `t…-` namespaces.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from tests.conftest import RESTRICTED_NAMESPACE_LABELS
from tests.support.kube import Kubectl, wait_for
from tests.support.operator_process import OperatorProcess

FAULT_PREFIX = f"f{uuid.uuid4().hex[:4]}-"
BALLAST_RESOURCES = "datasets.ballast.dev,trainingruns.ballast.dev,modelversions.ballast.dev,driftpolicies.ballast.dev"


class FaultEnvironment:
    """Namespaces and operators of a test's own, taken down in an order that leaves nothing.

    The Ballast objects go first, while their namespaces are active and the operators still
    run; then the operators stop; then the namespaces go. kopf puts a finalizer on every
    object a timer matches (every ModelVersion) and stops watching a namespace once it is
    terminating with content left (nolar/kopf#1088), so deleting a namespace first can leave
    it Terminating for ever.
    """

    def __init__(self, kubectl: Kubectl, kubeconfig: Path, log_dir: Path):
        self.kubectl, self.kubeconfig, self.log_dir = kubectl, kubeconfig, log_dir
        self.namespaces: list[str] = []
        self.operators: list[OperatorProcess] = []

    def namespace(self, role: str, restricted: bool = True) -> str:
        """FAULT_PREFIX + role + a random suffix; like every test namespace, it enforces the
        Pod Security Standard "restricted" unless told otherwise."""
        name = f"{FAULT_PREFIX}{role}-{uuid.uuid4().hex[:6]}"
        self.kubectl.run("create", "namespace", name)
        self.namespaces.append(name)
        if restricted:
            self.kubectl.run("label", "namespace", name, *RESTRICTED_NAMESPACE_LABELS)
        wait_for(
            lambda: self.kubectl.run("get", "serviceaccount", "default", "-n", name, check=False).returncode == 0,
            timeout=30,
            message=f"default ServiceAccount in {name}",
        )
        return name

    def operator(self, name: str, namespaces: tuple[str, ...], **options) -> OperatorProcess:
        """An operator watching exactly `namespaces`, logging to <log_dir>/<name>.log, started."""
        process = OperatorProcess(self.kubeconfig, self.log_dir / f"{name}.log", namespaces=namespaces, **options)
        self.operators.append(process)
        process.start()
        return process

    def close(self) -> None:
        try:
            for name in self.namespaces:
                self.kubectl.in_namespace(name).run("delete", BALLAST_RESOURCES, "--all", "--wait=false", check=False)
            for name in self.namespaces:
                k = self.kubectl.in_namespace(name)
                wait_for(
                    lambda: not k.run("get", BALLAST_RESOURCES, "-o", "name", check=False).stdout.strip(),
                    timeout=60,
                    interval=1,
                    message=f"the Ballast objects of {name} to be deleted",
                )
        finally:
            for process in reversed(self.operators):
                process.__exit__(None, None, None)
            for name in self.namespaces:
                self.kubectl.run("delete", "namespace", name, "--wait=false", check=False)
