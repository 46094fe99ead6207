"""The chart's security objects, applied to the cluster as `helm install` would create them on a
1.30+ API server: the operator's ServiceAccount and RBAC, the tenants' view and edit
ClusterRoles, and the ValidatingAdmissionPolicy with its binding.

The operator's Deployment is left out: these tests need the operator's identity and the limits
on it, not a second operator (the session's operator process serves the tenant namespaces).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field

import yaml

from ballast.settings import Settings
from tests.support.helm import CHART, find, helm, set_args
from tests.support.kube import Kubectl, wait_for

VAP_CAPABILITY = "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy"
APPLIED_KINDS = (
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "ClusterRole",
    "ClusterRoleBinding",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
)
CLUSTER_SCOPED = ("ValidatingAdmissionPolicyBinding", "ValidatingAdmissionPolicy", "ClusterRoleBinding", "ClusterRole")
# Nothing pulls it: the Jobs the tests create are suspended and the Deployments have no replicas.
WORKLOAD_IMAGE = ("registry.invalid/ballast", "sha256:" + "5e" * 32)


def render(release: str, namespace: str, values: dict) -> list[dict]:
    output = helm(
        "template", release, str(CHART), "--namespace", namespace, "--api-versions", VAP_CAPABILITY, *set_args(values)
    ).stdout
    return [doc for doc in yaml.safe_load_all(output) if doc]


@dataclass
class SecurityRelease:
    """One rendering of the chart, in namespaced mode watching only its own namespace (where the
    operator-identity tests create their Jobs and Deployments, out of the session operator's way)."""

    kubectl: Kubectl
    namespace: str
    values: dict = field(default_factory=dict)
    """Values besides the namespaced mode and the workload image."""
    name: str = ""

    def __post_init__(self) -> None:
        self.name = self.name or f"sec-{uuid.uuid4().hex[:6]}"
        repository, digest = WORKLOAD_IMAGE
        self.objects = render(
            self.name,
            self.namespace,
            {
                "watch.namespaces": [self.namespace],
                "image.repository": repository,
                "image.digest": digest,
                **self.values,
            },
        )

    def one(self, kind: str, suffix: str = "") -> dict:
        [obj] = [o for o in find(self.objects, kind) if o["metadata"]["name"].endswith(suffix)]
        return obj

    @property
    def operator_user(self) -> str:
        """The operator Deployment's ServiceAccount (the chart has another, the retention CronJob's)."""
        account = self.one("Deployment")["spec"]["template"]["spec"]["serviceAccountName"]
        return f"system:serviceaccount:{self.namespace}:{account}"

    @property
    def policy_name(self) -> str:
        """The policy on what the operator's ServiceAccount creates."""
        return self.one("ValidatingAdmissionPolicy", "-workloads")["metadata"]["name"]

    @property
    def approvals_policy_name(self) -> str:
        """The policy on who an approval may name."""
        return self.one("ValidatingAdmissionPolicy", "-approvals")["metadata"]["name"]

    @property
    def tenant_edit_role(self) -> str:
        return self.one("ClusterRole", "-edit")["metadata"]["name"]

    def operator_settings(self) -> Settings:
        """The settings the chart's operator would run with: the env of its rendered Deployment."""
        (deployment,) = find(self.objects, "Deployment")
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        return Settings.from_env({e["name"]: e["value"] for e in container["env"] if "value" in e})

    def apply(self) -> None:
        applied = [o for o in self.objects if o["kind"] in APPLIED_KINDS]
        self.kubectl.apply("\n---\n".join(json.dumps(o) for o in applied))

    def delete(self) -> None:
        for kind in CLUSTER_SCOPED:
            for obj in find(self.objects, kind):
                self.kubectl.run(
                    "delete", kind.lower(), obj["metadata"]["name"], "--ignore-not-found", "--wait=false", check=False
                )

    def wait_until_policy_enforced(self, operator: Kubectl, probe: dict) -> None:
        """A policy takes effect once the API server has compiled it: until then `probe`, a Job
        the policy refuses, is admitted (server-side dry run, so nothing is created)."""

        def refused() -> bool:
            result = operator.run("create", "--dry-run=server", "-f", "-", input=json.dumps(probe), check=False)
            return result.returncode != 0 and self.policy_name in result.stderr

        wait_for(refused, timeout=30, interval=0.5, message=f"ValidatingAdmissionPolicy {self.policy_name} in force")
