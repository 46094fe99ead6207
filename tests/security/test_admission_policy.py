"""The chart's ValidatingAdmissionPolicy on the real API server: what the operator's
ServiceAccount may create.

The operator's own Jobs and Deployments, built by its real build functions with the settings
the chart gives it, are admitted; the same objects with one thing changed (another image, a
ServiceAccount token, root, privilege escalation, a capability, a host namespace, hostPath, no
seccomp profile, a command of their own) are refused with the policy's message. Every request
is made as the operator's ServiceAccount, by impersonation, with only the chart's RBAC.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable

import pytest

from ballast.build.jobs import build_ingest_job, build_training_job, ingest_job_name
from ballast.build.serving import build_serving_deployment
from tests.security.clients import ImpersonatingKubectl, attempt
from tests.security.release import SecurityRelease
from tests.support.kube import Kubectl


def fake_owner(kind: str, namespace: str, spec: dict) -> dict:
    name = f"{kind.lower()}-{uuid.uuid4().hex[:6]}"
    return {
        "apiVersion": "ballast.dev/v1alpha1",
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace, "uid": str(uuid.uuid4()), "generation": 1},
        "spec": spec,
    }


def as_created(workload: dict) -> dict:
    """What the operator builds, made inert: a suspended Job starts no pod, a Deployment of zero
    replicas none either. The owner (a fake) is dropped, or the garbage collector would delete
    the child at once. Neither is something the policy looks at."""
    workload = copy.deepcopy(workload)
    workload["metadata"].pop("ownerReferences", None)
    if workload["kind"] == "Job":
        workload["spec"]["suspend"] = True
    else:
        workload["spec"]["replicas"] = 0
    return workload


@pytest.fixture(scope="module")
def operator_builds(security_release: SecurityRelease) -> dict[str, dict]:
    """The operator's three workloads, from its own build functions and the chart's settings."""
    settings = security_release.operator_settings()
    namespace = security_release.namespace
    dataset = fake_owner("Dataset", namespace, {"source": {"url": "https://data.example/iris.csv"}, "format": "csv"})
    run = fake_owner("TrainingRun", namespace, {"model": "iris", "dataset": {"name": dataset["metadata"]["name"]}})
    version = fake_owner(
        "ModelVersion",
        namespace,
        {"model": "iris", "artifact": {"uri": "file:///var/lib/ballast/m", "sha256": "0" * 64}},
    )
    return {
        "ingest": as_created(
            build_ingest_job(dataset, job_name=ingest_job_name(dataset["metadata"]["name"], 1, 0), settings=settings)
        ),
        "training": as_created(build_training_job(run, inputs={}, settings=settings)),
        "serving": as_created(build_serving_deployment(version, replicas=0, settings=settings)),
    }


@pytest.fixture(scope="module")
def policy_in_force(
    kubectl: Kubectl,
    security_release: SecurityRelease,
    operator_account: ImpersonatingKubectl,
    operator_builds: dict[str, dict],
) -> str:
    probe = copy.deepcopy(operator_builds["training"])
    probe["metadata"]["name"] = f"probe-{uuid.uuid4().hex[:6]}"
    pod_spec(probe)["containers"][0]["image"] = "registry.invalid/not-ballast:1"
    security_release.wait_until_policy_enforced(operator_account, probe)
    return security_release.policy_name


def pod_spec(workload: dict) -> dict:
    return workload["spec"]["template"]["spec"]


def container(workload: dict) -> dict:
    return pod_spec(workload)["containers"][0]


def security(workload: dict) -> dict:
    return container(workload)["securityContext"]


def renamed(workload: dict) -> dict:
    workload = copy.deepcopy(workload)
    workload["metadata"]["name"] = f"{workload['metadata']['name'][:40]}-{uuid.uuid4().hex[:6]}"
    return workload


# Each: what a compromised or mistaken operator might create, and the policy message that refuses it.
HOSTILE: dict[str, tuple[Callable[[dict], None], str]] = {
    "another image": (lambda w: container(w).update(image="registry.invalid/miner:latest"), "Ballast's image"),
    "an image that only starts like Ballast's": (
        lambda w: container(w).update(image=container(w)["image"] + "0"),
        "Ballast's image",
    ),
    "an init container of another image": (
        lambda w: pod_spec(w).update(
            initContainers=[{**copy.deepcopy(container(w)), "name": "init", "image": "registry.invalid/x:1"}]
        ),
        "Ballast's image",
    ),
    "a command of its own": (lambda w: container(w).update(command=["sh", "-c", "id"]), "Ballast's own command"),
    "a ServiceAccount token": (
        lambda w: pod_spec(w).update(automountServiceAccountToken=True),
        "no ServiceAccount token",
    ),
    "the token left to the default": (
        lambda w: pod_spec(w).pop("automountServiceAccountToken"),
        "no ServiceAccount token",
    ),
    "a projected token volume": (
        lambda w: pod_spec(w)["volumes"].append(
            {"name": "token", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}}
        ),
        "no ServiceAccount token",
    ),
    "root": (
        lambda w: (
            pod_spec(w)["securityContext"].update(runAsUser=0, runAsNonRoot=False),
            security(w).pop("runAsNonRoot"),
        ),
        "non-root",
    ),
    "runAsNonRoot off": (lambda w: security(w).update(runAsNonRoot=False), "non-root"),
    "privilege escalation": (lambda w: security(w).update(allowPrivilegeEscalation=True), "allowPrivilegeEscalation"),
    # the API server itself refuses privileged with allowPrivilegeEscalation false
    "privileged": (
        lambda w: security(w).update(privileged=True, allowPrivilegeEscalation=True),
        "allowPrivilegeEscalation",
    ),
    "capabilities kept": (lambda w: security(w).pop("capabilities"), "drop ALL capabilities"),
    "a capability added": (lambda w: security(w)["capabilities"].update(add=["NET_RAW"]), "drop ALL capabilities"),
    "seccomp unconfined": (
        lambda w: (
            security(w).pop("seccompProfile"),
            pod_spec(w)["securityContext"].update(seccompProfile={"type": "Unconfined"}),
        ),
        "RuntimeDefault",
    ),
    "the host network": (lambda w: pod_spec(w).update(hostNetwork=True), "no host namespace"),
    "the host PID namespace": (lambda w: pod_spec(w).update(hostPID=True), "no host namespace"),
    "a hostPath volume": (
        lambda w: pod_spec(w)["volumes"].append({"name": "host", "hostPath": {"path": "/"}}),
        "hostPath",
    ),
}


def test_the_operators_own_jobs_and_deployments_are_admitted(
    operator_account: ImpersonatingKubectl, operator_builds: dict[str, dict], policy_in_force: str
):
    for role, workload in operator_builds.items():
        workload = renamed(workload)
        kind, name = workload["kind"].lower(), workload["metadata"]["name"]
        created = operator_account.run("create", "-f", "-", input=json.dumps(workload), check=False)
        assert created.returncode == 0, f"{role}: {created.stderr}"
        if kind == "deployment":
            # an update of the operator's own Deployment (server-side apply, as the operator does) is admitted too
            workload["metadata"].setdefault("annotations", {})["ballast.dev/test"] = "updated"
            applied = operator_account.run(
                "apply", "--server-side", "--field-manager=ballast", "-f", "-", input=json.dumps(workload), check=False
            )
            assert applied.returncode == 0, f"{role} update: {applied.stderr}"
        # the chart gives the operator no delete on Deployments: the admin cleans up
        operator_account.run("delete", kind, name, "--wait=false", check=False)
        Kubectl(operator_account.kubeconfig, operator_account.namespace).run(
            "delete", kind, name, "--wait=false", "--ignore-not-found", check=False
        )


@pytest.mark.parametrize("change", sorted(HOSTILE))
def test_a_job_the_operator_should_never_create_is_refused(
    change: str, operator_account: ImpersonatingKubectl, operator_builds: dict[str, dict], policy_in_force: str
):
    mutate, message = HOSTILE[change]
    job = renamed(operator_builds["training"])
    mutate(job)
    refused = attempt(operator_account, "create", "-f", "-", manifest=job)
    assert refused.denied_by_policy(policy_in_force), refused.stderr or "admitted"
    assert message in refused.stderr, refused.stderr
    assert operator_account.run("get", "job", job["metadata"]["name"], check=False).returncode != 0


def test_a_serving_deployment_of_another_image_is_refused_on_create_and_update(
    kubectl: Kubectl, operator_account: ImpersonatingKubectl, operator_builds: dict[str, dict], policy_in_force: str
):
    deployment = renamed(operator_builds["serving"])
    hostile = copy.deepcopy(deployment)
    container(hostile)["image"] = "registry.invalid/miner:latest"
    assert attempt(operator_account, "create", "-f", "-", manifest=hostile).denied_by_policy(policy_in_force)
    # applied as Ballast's, then changed: the update is refused as well
    apply = ("apply", "--server-side", "--force-conflicts", "--field-manager=ballast", "-f", "-")
    operator_account.run(*apply, input=json.dumps(deployment))
    try:
        changed = attempt(operator_account, *apply, manifest=hostile)
        assert changed.denied_by_policy(policy_in_force), changed.stderr or "admitted"
        kept = kubectl.in_namespace(operator_account.namespace).get_json("deployment", deployment["metadata"]["name"])
        assert container(kept)["image"] == container(deployment)["image"]
    finally:
        kubectl.in_namespace(operator_account.namespace).run(
            "delete", "deployment", deployment["metadata"]["name"], "--wait=false", check=False
        )


def test_the_policy_binds_only_the_operator(
    kubectl: Kubectl, operator_account: ImpersonatingKubectl, operator_builds: dict[str, dict], policy_in_force: str
):
    """Tenants' and administrators' own workloads are Pod Security admission's business, not
    Ballast's: the admin's identical request passes the policy (a server-side dry run)."""
    job = renamed(operator_builds["training"])
    container(job)["image"] = "registry.invalid/someone-elses:1"
    admin = kubectl.in_namespace(operator_account.namespace)
    result = admin.run("create", "--dry-run=server", "-f", "-", input=json.dumps(job), check=False)
    assert result.returncode == 0, result.stderr


CUSTOM_PREFIXES = ["registry.example/ml-team", "registry.example/shared/"]
CANDIDATE_IMAGES = [
    "registry.example/ml-team/trainer:1",
    "registry.example/ml-team@sha256:" + "1" * 64,
    "registry.example/ml-team",
    "registry.example/ml-teamx/trainer:1",
    "registry.example/shared/x:2",
    "registry.example/sharedx:2",
    "registry.example/other/x:1",
    "docker.io/registry.example/ml-team/x:1",
]


def test_with_custom_images_on_the_policy_and_the_operator_allow_the_same_images(
    kubectl: Kubectl, security_release: SecurityRelease, operator_builds: dict[str, dict]
):
    """An administrator's allow-list, read the same way by the operator (ballast.build.policy)
    and the policy: a prefix ends at a boundary, so "registry.example/ml-team" does not allow
    "registry.example/ml-teamx/..."."""
    import dataclasses

    from ballast.build.policy import image_allowed

    release = SecurityRelease(
        kubectl,
        security_release.namespace,
        values={"workloads.customImages.enabled": True, "workloads.customImages.allowedPrefixes": CUSTOM_PREFIXES},
    )
    release.apply()
    try:
        operator = ImpersonatingKubectl(kubectl.kubeconfig, release.operator_user, namespace=release.namespace)
        probe = renamed(operator_builds["training"])
        container(probe)["image"] = "registry.invalid/not-allowed:1"
        release.wait_until_policy_enforced(operator, probe)
        settings = dataclasses.replace(
            release.operator_settings(), custom_images_enabled=True, custom_image_prefixes=tuple(CUSTOM_PREFIXES)
        )
        admitted, allowed = {}, {}
        for image in CANDIDATE_IMAGES:
            job = renamed(operator_builds["training"])
            container(job).update(image=image, command=["python", "train.py"], args=[])  # a custom command too
            result = operator.run("create", "--dry-run=server", "-f", "-", input=json.dumps(job), check=False)
            assert result.returncode == 0 or release.policy_name in result.stderr, result.stderr
            admitted[image] = result.returncode == 0
            allowed[image] = image_allowed(image, settings)
        assert admitted == allowed
        assert sum(admitted.values()) == 4  # the four under a prefix; the test must not pass by refusing all
    finally:
        release.delete()
