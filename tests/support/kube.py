"""Small helpers for tests that talk to a real API server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from kubernetes.client.exceptions import ApiException

from ballast.store.layout import AUDIT

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]


def cache_dir() -> Path:
    """The same cache directory build.sh and localcluster.py use."""
    explicit = os.environ.get("BALLAST_CACHE_DIR")
    return Path(explicit) if explicit else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ballast"


def on_kind() -> bool:
    """CLUSTER=kind: the demo and the suites run on kind (tests/kind), not the local cluster."""
    return os.environ.get("CLUSTER") == "kind"


def shared_store_dir() -> Path:
    """Where the node's provisioner (tests/cluster/provisioner.py) keeps every `ballast-shared`
    volume: the host side of the artifact store that all Ballast pods mount."""
    if on_kind():
        from tests.kind import kindcluster

        return kindcluster.shared_store_dir()
    return cache_dir() / "node" / "volumes" / "ballast-shared"


def open_audit_root_to_every_user(store_dir: Path) -> None:
    """The tests' operators and `ballast` commands run as root on the host, the chart's operator
    as 65532, all on the one shared store directory: the audit root (ballast.audit) that root
    would create 0755 would refuse the chart's operator every append."""
    audit_root = store_dir / AUDIT
    audit_root.mkdir(parents=True, exist_ok=True)
    audit_root.chmod(0o777)


def kubectl_binary() -> str:
    """The kubectl built with the local cluster (same version as the server), else PATH's."""
    built = cache_dir() / "bin" / "current" / "kubectl"
    return str(built) if built.exists() else (shutil.which("kubectl") or "kubectl")


class Kubectl:
    def __init__(self, kubeconfig: Path, namespace: str | None = None):
        self.kubeconfig = kubeconfig
        self.namespace = namespace

    def in_namespace(self, namespace: str) -> Kubectl:
        return Kubectl(self.kubeconfig, namespace)

    def run(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess:
        command = [kubectl_binary(), "--kubeconfig", str(self.kubeconfig)]
        if self.namespace:
            command += ["--namespace", self.namespace]
        result = subprocess.run(command + list(args), input=input, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def apply(self, manifest: dict | str, check: bool = True) -> subprocess.CompletedProcess:
        text = manifest if isinstance(manifest, str) else json.dumps(manifest)
        return self.run("apply", "--server-side", "--field-manager=ballast-tests", "-f", "-", input=text, check=check)

    def get_json(self, *args: str) -> dict:
        return json.loads(self.run("get", *args, "-o", "json").stdout)


def can(kubectl: Kubectl, user: str, verb: str, resource: str, namespace: str | None, name: str = "") -> bool:
    """Whether RBAC lets `user` do `verb` on `resource` ("plural.group", "/subresource" after it)
    in `namespace` (None: in all of them, or cluster-scoped), optionally on the object `name`.
    Asked with a SubjectAccessReview rather than `kubectl auth can-i`, which resolves the resource
    by discovery first and so answers no for a kind not served yet (the Dask operator's CRDs come
    with the tests that install it). The user has the groups `--as` gives it: the authenticated,
    and a ServiceAccount's own two, so rules bound to those count as they would."""
    resource, _, subresource = resource.partition("/")
    plural, _, group = resource.partition(".")
    attributes = {"verb": verb, "resource": plural, "group": group, "subresource": subresource, "name": name}
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": user,
            "groups": authenticated_groups(user),
            "resourceAttributes": attributes | {"namespace": namespace or ""},
        },
    }
    answer = kubectl.run("create", "-o", "json", "-f", "-", input=json.dumps(review))
    return json.loads(answer.stdout)["status"].get("allowed", False)


def authenticated_groups(user: str) -> list[str]:
    """The groups the API server gives `user` when a request impersonates it."""
    if user.startswith("system:serviceaccount:"):
        namespace = user.split(":")[2]
        return ["system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"]
    return ["system:authenticated"]


# The API server's answers that may change by themselves: not there yet, a write that raced
# another, too many requests (a new CRD's storage not ready), and its own or etcd's restarts.
NOT_YET_STATUSES = frozenset({404, 409, 429, 500, 502, 503, 504})


def cannot_pass_by_waiting(error: Exception) -> bool:
    """A bug in the condition itself (a TypeError or KeyError) or a request the API server
    refuses for good (forbidden, invalid): waiting out the timeout would only hide it. A missing
    status field the condition expects later is read with .get(), never by indexing."""
    if isinstance(error, TypeError | KeyError):
        return True
    return isinstance(error, ApiException) and error.status not in NOT_YET_STATUSES


def wait_for(
    condition: Callable[[], T], *, timeout: float = 60, interval: float = 0.5, message: str = "condition"
) -> T:
    """Poll until condition() returns something truthy; fail with message after timeout, or at
    once with an error no amount of waiting can cure."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = condition()
            if result:
                return result
        except Exception as error:
            if cannot_pass_by_waiting(error):
                raise
            last_error = error  # the object may not exist yet
        time.sleep(interval)
    raise AssertionError(
        f"timed out after {timeout}s waiting for {message}" + (f" (last error: {last_error})" if last_error else "")
    )


def install_crds(kubectl: Kubectl) -> None:
    """Apply crds/ and wait until every kind is served, not only Established: the API server
    answers 429 to lists of a new CRD until its storage is ready."""
    from ballast.api.kinds import ALL_KINDS

    crds = str(REPO / "crds")
    kubectl.run("apply", "--server-side", "--force-conflicts", "--field-manager=ballast", "-f", crds)
    kubectl.run("wait", "--for=condition=Established", "--timeout=60s", "-f", crds)
    for kind in ALL_KINDS:
        wait_for(
            lambda: kubectl.run("get", kind.plural, "--all-namespaces", check=False).returncode == 0,
            timeout=30,
            message=f"{kind.plural} to be served",
        )


def fields_of(manager: str, obj: dict) -> set[tuple[str, ...]]:
    """The leaf fields the API server records `manager` as owning (managedFields' fieldsV1, as
    paths; "." entries, which mark a map the manager created, are left out)."""

    def leaves(tree: dict, path: tuple[str, ...]) -> set[tuple[str, ...]]:
        found: set[tuple[str, ...]] = set()
        for key, below in tree.items():
            if key == ".":
                continue
            here = (*path, key.removeprefix("f:"))
            found |= leaves(below, here) if below else {here}
        return found

    owned = [entry["fieldsV1"] for entry in obj["metadata"].get("managedFields") or [] if entry["manager"] == manager]
    return set().union(*(leaves(tree, ()) for tree in owned))
