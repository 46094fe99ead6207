"""The suite's clients of the API server: the attacker, the victim and the operator's own
ServiceAccount, each a kubectl that acts through impersonation (`--as`), so each is authorised
by exactly the RBAC its identity has and nothing the test's admin credentials allow."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support.kube import Kubectl

ANONYMOUS = ("system:anonymous", ("system:unauthenticated",))


class ImpersonatingKubectl(Kubectl):
    """kubectl as `user` (and `groups`); the admin's kubeconfig only carries the impersonation.
    The API server adds system:authenticated to a named user (and a ServiceAccount's own
    groups to a ServiceAccount) by itself."""

    def __init__(self, kubeconfig: Path, user: str, groups: tuple[str, ...] = (), namespace: str | None = None):
        super().__init__(kubeconfig, namespace)
        self.user = user
        self.groups = groups

    def in_namespace(self, namespace: str) -> ImpersonatingKubectl:
        return ImpersonatingKubectl(self.kubeconfig, self.user, self.groups, namespace)

    def run(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess:
        identity = [f"--as={self.user}", *(f"--as-group={group}" for group in self.groups)]
        return super().run(*identity, *args, input=input, check=check, timeout=timeout)

    def can(self, verb: str, resource: str, namespace: str | None = None) -> bool:
        """`kubectl auth can-i`, as this identity ("pods/exec" is a subresource, not a name)."""
        resource, _, subresource = resource.partition("/")
        args = ["auth", "can-i", verb, resource, *([f"--subresource={subresource}"] if subresource else [])]
        args += ["--namespace", namespace] if namespace else ["--all-namespaces"]
        return self.run(*args, check=False).stdout.strip() == "yes"


@dataclass(frozen=True)
class Refused:
    """A request the API server refused: by RBAC (Forbidden) or by an admission policy."""

    returncode: int
    stderr: str

    @property
    def by_rbac(self) -> bool:
        """Refused by authorisation: `User "alice" cannot create resource "pods" ...`."""
        return self.returncode != 0 and "(Forbidden)" in self.stderr and " cannot " in self.stderr

    def denied_by_policy(self, policy: str) -> bool:
        return (
            self.returncode != 0
            and f"ValidatingAdmissionPolicy '{policy}'" in self.stderr
            and "denied request" in self.stderr
        )


def attempt(client: Kubectl, *args: str, manifest: dict | None = None) -> Refused:
    """Run a request that should fail; the result says how it failed (returncode 0 if it did not)."""
    result = client.run(*args, input=json.dumps(manifest) if manifest else None, check=False)
    return Refused(result.returncode, result.stderr)
