"""The chart's tenant-facing pieces, rendered by a real helm: the ValidatingAdmissionPolicy that
bounds what the operator's ServiceAccount may create, and the ClusterRoles that add Ballast's
kinds to the built-in view, edit and admin roles.

What the policy admits and refuses on a real API server is in tests/security/test_admission_policy.py.
"""

from __future__ import annotations

import json

import pytest

from tests.security.release import render
from tests.support.helm import CHART, find, helm, rendered, set_args

DIGEST = "sha256:" + "ab" * 32
TENANT_KINDS = {"datasets", "trainingruns", "modelversions", "driftpolicies"}


def rendered_on_a_vap_server(values: dict | None = None, *, namespace: str = "ballast-system") -> list[dict]:
    """What `helm install` renders on a 1.30+ API server."""
    return render("ballast", namespace, values or {})


def policy_and_binding(values: dict | None = None, *, of: str = "workloads", **kwargs) -> tuple[dict, dict]:
    """The chart's admission policy `of` what (workloads, approvals) and its binding."""
    objects = rendered_on_a_vap_server(values, **kwargs)
    (policy,) = [o for o in find(objects, "ValidatingAdmissionPolicy") if o["metadata"]["name"].endswith(f"-{of}")]
    (binding,) = find(objects, "ValidatingAdmissionPolicyBinding", policy["metadata"]["name"])
    return policy, binding


def variables(policy: dict) -> dict[str, str]:
    return {v["name"]: v["expression"] for v in policy["spec"]["variables"]}


def workload_image(objects: list[dict]) -> str:
    """The image the chart's operator gives the pods it creates (BALLAST_IMAGE)."""
    (deployment,) = find(objects, "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return next(e["value"] for e in container["env"] if e["name"] == "BALLAST_IMAGE")


# --- the admission policy --------------------------------------------------------------------


@pytest.mark.tools
def test_policy_is_on_by_default_where_the_api_server_has_the_kind_and_absent_elsewhere():
    policy, binding = policy_and_binding()
    assert binding["spec"] == {"policyName": policy["metadata"]["name"], "validationActions": ["Deny"]}
    assert policy["spec"]["failurePolicy"] == "Fail"
    # plain `helm template` (and so manifests/base) knows no API server: nothing to render
    assert not [o for o in rendered() if o["kind"].startswith("ValidatingAdmissionPolicy")]
    assert not [
        o
        for o in rendered_on_a_vap_server({"admissionPolicy.enabled": False})
        if o["kind"].startswith("ValidatingAdmissionPolicy")
    ]


@pytest.mark.tools
def test_the_approvals_policy_watches_every_modelversion_write_but_not_its_status():
    policy, binding = policy_and_binding(of="approvals")
    assert binding["spec"] == {"policyName": policy["metadata"]["name"], "validationActions": ["Deny"]}
    assert "matchConditions" not in policy["spec"]  # anyone's write, the operator's included
    assert policy["spec"]["matchConstraints"]["resourceRules"] == [
        {
            "apiGroups": ["ballast.dev"],
            "apiVersions": ["*"],
            "operations": ["CREATE", "UPDATE"],
            "resources": ["modelversions"],
        }
    ]
    assert all("ballast.dev/approved-by" in message["messageExpression"] for message in policy["spec"]["validations"])
    assert not [
        o
        for o in rendered_on_a_vap_server({"admissionPolicy.enabled": False})
        if o["metadata"]["name"].endswith("-approvals")
    ]


@pytest.mark.tools
def test_policy_matches_only_the_operators_service_account_of_the_release():
    policy, _ = policy_and_binding({"serviceAccount.name": "ops"}, namespace="platform")
    [condition] = policy["spec"]["matchConditions"]
    assert condition["expression"] == 'request.userInfo.username == "system:serviceaccount:platform:ops"'
    rules = {
        (rule["apiGroups"][0], resource): set(rule["operations"])
        for rule in policy["spec"]["matchConstraints"]["resourceRules"]
        for resource in rule["resources"]
    }
    assert rules == {
        ("batch", "jobs"): {"CREATE", "UPDATE"},
        ("apps", "deployments"): {"CREATE", "UPDATE"},
        ("", "pods"): {"CREATE", "UPDATE"},
    }


@pytest.mark.tools
@pytest.mark.parametrize(
    "values, image",
    [
        ({}, "ballast:0.1.0"),
        ({"image.repository": "registry.example/ballast", "image.tag": "1.2.3"}, "registry.example/ballast:1.2.3"),
        (
            {"image.repository": "registry.example/ballast", "image.digest": DIGEST},
            f"registry.example/ballast@{DIGEST}",
        ),
        (
            {"workloads.image.repository": "mirror.example/ballast", "workloads.image.digest": DIGEST},
            f"mirror.example/ballast@{DIGEST}",
        ),
    ],
    ids=["appVersion", "tag", "digest", "workloads-image"],
)
def test_policy_admits_exactly_the_image_the_operator_gives_its_pods(values, image):
    objects = rendered_on_a_vap_server(values)
    (policy,) = find(objects, "ValidatingAdmissionPolicy", "ballast-workloads")
    assert workload_image(objects) == image
    # a CEL string literal: JSON's quoting is CEL's
    assert json.loads(variables(policy)["ballastImage"]) == image


@pytest.mark.tools
def test_custom_image_prefixes_count_only_when_custom_images_are_on():
    prefixes = ["registry.example/ml-team/", "registry.example/shared/"]
    off, _ = policy_and_binding({"workloads.customImages.allowedPrefixes": prefixes})
    assert json.loads(variables(off)["allowedPrefixes"]) == []
    on, _ = policy_and_binding(
        {"workloads.customImages.enabled": True, "workloads.customImages.allowedPrefixes": prefixes}
    )
    assert json.loads(variables(on)["allowedPrefixes"]) == prefixes


@pytest.mark.tools
def test_every_restricted_requirement_has_a_validation_with_a_message():
    policy, _ = policy_and_binding()
    text = " ".join(v["expression"] for v in policy["spec"]["validations"])
    for field in (
        "image",
        "automountServiceAccountToken",
        "serviceAccountToken",
        "hostNetwork",
        "hostPID",
        "hostIPC",
        "hostPath",
        "runAsNonRoot",
        "runAsUser",
        "allowPrivilegeEscalation",
        "privileged",
        "capabilities",
        "seccompProfile",
        "ephemeralContainers",
    ):
        assert field in text, field
    assert all(v.get("message") for v in policy["spec"]["validations"])


@pytest.mark.tools
@pytest.mark.parametrize(
    "key, value",
    [
        ("workloads.customImages.enabled", "yes"),
        ("workloads.customImages.allowedPrefixes", [""]),
        ("workloads.customImages.prefixes", []),
        ("admissionPolicy.enabled", "true"),
        ("rbac.aggregateClusterRoles", 1),
    ],
)
def test_schema_rejects_wrong_security_values(key, value):
    result = helm("template", "ballast", str(CHART), *set_args({key: value}), check=False)
    assert result.returncode != 0 and "values don't meet the specifications of the schema" in result.stderr


# --- the tenants' roles ----------------------------------------------------------------------


def tenant_roles(values: dict | None = None) -> dict[str, dict]:
    return {
        r["metadata"]["name"]: r
        for r in find(rendered(values), "ClusterRole")
        if any(k.startswith("rbac.authorization.k8s.io/aggregate-to-") for k in r["metadata"]["labels"])
    }


def grants(role: dict) -> dict[str, set[str]]:
    result: dict[str, set[str]] = {}
    for rule in role["rules"]:
        assert rule["apiGroups"] == ["ballast.dev"], rule
        for resource in rule["resources"]:
            result.setdefault(resource, set()).update(rule["verbs"])
    return result


@pytest.mark.tools
def test_view_edit_and_admin_aggregate_the_four_kinds_and_nobody_writes_status():
    roles = tenant_roles()
    assert set(roles) == {"ballast-view", "ballast-edit", "ballast-admin"}
    view, edit, admin = (grants(roles[f"ballast-{name}"]) for name in ("view", "edit", "admin"))
    reads = {"get", "list", "watch"}
    assert view == {**{kind: reads for kind in TENANT_KINDS}, **{f"{kind}/status": reads for kind in TENANT_KINDS}}
    assert edit == {kind: reads | {"create", "update", "patch", "delete"} for kind in TENANT_KINDS}
    assert admin == {kind: {"deletecollection"} for kind in TENANT_KINDS}
    labels = {
        name: {
            k.rsplit("-", 1)[-1]
            for k, v in r["metadata"]["labels"].items()
            if k.startswith("rbac.authorization.k8s.io/aggregate-to-") and v == "true"
        }
        for name, r in roles.items()
    }
    assert labels == {
        "ballast-view": {"view", "edit", "admin"},
        "ballast-edit": {"edit", "admin"},
        "ballast-admin": {"admin"},
    }


@pytest.mark.tools
def test_tenant_roles_can_be_left_out():
    assert tenant_roles({"rbac.aggregateClusterRoles": False}) == {}
    assert (
        tenant_roles(
            {
                "rbac.create": False,
                "serviceAccount.create": False,
                "serviceAccount.name": "ops",
                "retention.enabled": False,
            }
        )
        == {}
    )
