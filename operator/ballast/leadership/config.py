"""Whether the operator elects a leader, and the Lease it uses (the chart sets these)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ENABLED_ENV = "BALLAST_LEADER_ELECTION"
NAMESPACE_ENV = "BALLAST_LEADER_ELECTION_NAMESPACE"
LEASE_ENV = "BALLAST_LEADER_ELECTION_LEASE"
DEFAULT_LEASE_NAME = "ballast-operator"
# In a pod the service account's namespace is the operator's own.
POD_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def enabled_by_default(environ: Mapping[str, str]) -> bool:
    """On unless $BALLAST_LEADER_ELECTION says false: two replicas must never both write."""
    return environ.get(ENABLED_ENV, "true").strip().lower() != "false"


@dataclass(frozen=True)
class LeaderElection:
    enabled: bool
    lease_name: str = DEFAULT_LEASE_NAME
    namespace: str = ""

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str], *, enabled: bool, pod_namespace_file: Path = POD_NAMESPACE_FILE
    ) -> LeaderElection:
        """The Lease lives in the operator's namespace, in cluster-wide and namespaced mode
        alike: $BALLAST_LEADER_ELECTION_NAMESPACE, else $BALLAST_OPERATOR_NAMESPACE, else the
        pod's. Outside a pod with none of them, the operator refuses to start rather than guess
        one that its replicas might not share."""
        if not enabled:
            return cls(enabled=False)
        namespace = environ.get(NAMESPACE_ENV) or environ.get("BALLAST_OPERATOR_NAMESPACE") or ""
        if not namespace and pod_namespace_file.is_file():
            namespace = pod_namespace_file.read_text().strip()
        if not namespace:
            raise ValueError(
                f"leader election needs the Lease's namespace: set {NAMESPACE_ENV}, "
                f"or {ENABLED_ENV}=false (--no-leader-election) for a single operator"
            )
        return cls(enabled=True, lease_name=environ.get(LEASE_ENV) or DEFAULT_LEASE_NAME, namespace=namespace)
