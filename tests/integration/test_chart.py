"""The Helm chart against the real API server: its output is accepted (server-side dry run),
the operator's and the retention CronJob's pods pass Pod Security admission at "restricted",
and the RBAC it grants is what each needs and nothing more (SubjectAccessReviews for their
ServiceAccounts, kube.can)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import yaml

from tests.conftest import make_namespace
from tests.support.ballast_objects import dataset, iris_rows, training_run, wait_for_condition, wait_for_stage
from tests.support.helm import find, rendered, template
from tests.support.kube import Kubectl, can, shared_store_dir
from tests.support.operator_process import OperatorProcess

RESTRICTED = "pod-security.kubernetes.io/enforce=restricted"
FOUR_KINDS = (
    "datasets.ballast.dev",
    "trainingruns.ballast.dev",
    "modelversions.ballast.dev",
    "driftpolicies.ballast.dev",
)


def _account(objects: list[dict], component: str = "operator") -> dict:
    """The operator's ServiceAccount, or the retention CronJob's."""
    (account,) = [
        o
        for o in find(objects, "ServiceAccount")
        if o["metadata"]["labels"]["app.kubernetes.io/component"] == component
    ]
    return account


def _server_dry_run(kubectl: Kubectl, manifests: str) -> str:
    result = kubectl.run(
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=ballast-chart-test",
        "--dry-run=server",
        "-f",
        "-",
        input=manifests,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("mode", ["cluster-wide", "namespaced"])
def test_rendered_chart_is_accepted_by_the_api_server(kubectl: Kubectl, namespace: str, crds, mode):
    values = {"store.claim.storageClassName": "ballast-shared", "networkPolicy.enabled": True}
    if mode == "namespaced":
        values["watch.namespaces"] = [namespace]
    manifests = template(values, release=f"chart-{namespace}", namespace=namespace).stdout
    output = _server_dry_run(kubectl, manifests)
    expected = {
        "Deployment",
        "ServiceAccount",
        "Service",
        "PersistentVolumeClaim",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "NetworkPolicy",
        "FlowSchema",
        "PriorityLevelConfiguration",
        "CronJob",
        # high availability: the leader Lease's Role and RoleBinding, and the replicas' budget
        "Role",
        "RoleBinding",
        "PodDisruptionBudget",
    }
    kinds = {doc["kind"] for doc in yaml.safe_load_all(manifests) if doc}
    assert kinds == expected
    assert output.count("(server dry run)") == len([d for d in yaml.safe_load_all(manifests) if d])


@pytest.mark.parametrize("component", ["operator", "retention"])
def test_the_charts_pods_are_admitted_by_a_restricted_namespace(kubectl: Kubectl, namespace: str, component: str):
    kubectl.run("label", "namespace", namespace, RESTRICTED, "pod-security.kubernetes.io/warn=restricted")
    objects = rendered(namespace=namespace)
    kubectl.apply(json.dumps(_account(objects, component)))  # the ServiceAccount admission plugin looks it up
    if component == "operator":
        (deployment,) = find(objects, "Deployment")
        template_ = deployment["spec"]["template"]
    else:
        (cronjob,) = find(objects, "CronJob")
        template_ = cronjob["spec"]["jobTemplate"]["spec"]["template"]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"ballast-{component}", "namespace": namespace, "labels": template_["metadata"]["labels"]},
        "spec": template_["spec"],
    }
    result = kubectl.run("create", "--dry-run=server", "-o", "name", "-f", "-", input=json.dumps(pod), check=False)
    assert result.returncode == 0, result.stderr
    assert "would violate" not in result.stderr  # the warn mode's verdict

    # and the admission really is on: the same pod without its securityContext is refused
    insecure = json.loads(json.dumps(pod))
    del insecure["spec"]["securityContext"]
    del insecure["spec"]["containers"][0]["securityContext"]
    refused = kubectl.run("create", "--dry-run=server", "-f", "-", input=json.dumps(insecure), check=False)
    assert refused.returncode != 0 and 'violates PodSecurity "restricted' in refused.stderr


def _install_rbac(kubectl: Kubectl, namespace: str, cluster_wide: bool = False, component: str = "operator"):
    """The chart's ServiceAccounts and RBAC, really applied, in namespaced mode watching
    `namespace` (or cluster-wide; the release lives there either way); yields the name of the
    operator's account (or the retention CronJob's)."""
    release = f"rbac-{uuid.uuid4().hex[:6]}"
    values = {} if cluster_wide else {"watch.namespaces": [namespace]}
    objects = [
        o
        for o in rendered(values, release=release, namespace=namespace)
        if o["kind"] in ("ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")
    ]
    kubectl.apply("\n---\n".join(json.dumps(o) for o in objects))
    account = _account(objects, component)["metadata"]["name"]
    try:
        yield account
    finally:
        for kind in ("ClusterRoleBinding", "ClusterRole"):
            for obj in find(objects, kind):
                kubectl.run("delete", kind.lower(), obj["metadata"]["name"], "--ignore-not-found", check=False)


@pytest.fixture
def installed_rbac(kubectl: Kubectl, namespace: str, crds):
    for account in _install_rbac(kubectl, namespace):
        yield f"system:serviceaccount:{namespace}:{account}"


def test_operator_account_can_do_its_work_in_watched_namespaces_only(
    kubectl: Kubectl, namespace: str, installed_rbac: str
):
    user = installed_rbac
    allowed = [
        ("list", "datasets.ballast.dev"),
        ("watch", "trainingruns.ballast.dev"),
        ("patch", "modelversions.ballast.dev"),
        ("patch", "driftpolicies.ballast.dev"),
        ("patch", "datasets.ballast.dev/status"),
        ("create", "modelversions.ballast.dev"),
        ("create", "trainingruns.ballast.dev"),
        ("update", "trainingruns.ballast.dev/finalizers"),
        ("create", "jobs.batch"),
        ("delete", "jobs.batch"),
        ("watch", "jobs.batch"),
        ("create", "daskjobs.kubernetes.dask.org"),
        ("delete", "daskjobs.kubernetes.dask.org"),
        ("watch", "pods"),
        ("create", "persistentvolumeclaims"),
        ("get", "persistentvolumeclaims"),
        ("get", "secrets"),
        ("patch", "deployments.apps"),
        ("create", "deployments.apps"),
        ("create", "services"),
        ("patch", "services"),
        ("watch", "services"),
        ("get", "services"),
        ("watch", "replicasets.apps"),
        ("create", "secrets"),
        ("create", "networkpolicies.networking.k8s.io"),
        ("patch", "networkpolicies.networking.k8s.io"),
        ("watch", "networkpolicies.networking.k8s.io"),
        ("create", "horizontalpodautoscalers.autoscaling"),
        ("patch", "horizontalpodautoscalers.autoscaling"),
        ("delete", "horizontalpodautoscalers.autoscaling"),
        ("create", "events"),
    ]
    refused = [
        ("list", "secrets"),
        ("watch", "secrets"),
        ("update", "secrets"),
        ("patch", "secrets"),
        ("delete", "secrets"),
        ("delete", "networkpolicies.networking.k8s.io"),
        ("list", "horizontalpodautoscalers.autoscaling"),
        ("create", "replicasets.apps"),
        ("create", "pods"),
        ("delete", "pods"),
        ("get", "configmaps"),
        ("delete", "deployments.apps"),
        ("delete", "services"),
        ("delete", "datasets.ballast.dev"),
        ("create", "datasets.ballast.dev"),
        ("create", "driftpolicies.ballast.dev"),
        ("update", "jobs.batch"),
        ("get", "daskjobs.kubernetes.dask.org"),
        ("create", "daskclusters.kubernetes.dask.org"),
        ("create", "pods/exec"),
        ("create", "serviceaccounts/token"),
        ("update", "datasets.ballast.dev/status"),
        ("patch", "deployments.apps/scale"),
        ("update", "driftpolicies.ballast.dev/finalizers"),
        ("create", "rolebindings.rbac.authorization.k8s.io"),
        ("delete", "persistentvolumeclaims"),
    ]
    assert [check for check in allowed if not can(kubectl, user, *check, namespace)] == []
    assert [check for check in refused if can(kubectl, user, *check, namespace)] == []
    # outside the watched namespace it can do nothing at all
    assert [check for check in allowed if can(kubectl, user, *check, "default")] == []
    # cluster-scoped: only what kopf reads
    assert can(kubectl, user, "watch", "customresourcedefinitions.apiextensions.k8s.io", None)
    assert can(kubectl, user, "list", "namespaces", None)
    assert not can(kubectl, user, "get", "namespaces", None)
    assert not can(kubectl, user, "create", "customresourcedefinitions.apiextensions.k8s.io", None)
    assert not can(kubectl, user, "list", "datasets.ballast.dev", None)
    # and egress discovery's two lists (ballast.net.discovery), checked in both modes below
    assert can(kubectl, user, "list", "nodes", None)


EGRESS_DISCOVERY = ("nodes", "servicecidrs.networking.k8s.io")


@pytest.mark.parametrize("mode", ["namespaced", "cluster-wide"])
def test_egress_discovery_may_only_list_nodes_and_service_cidrs(kubectl: Kubectl, namespace: str, crds, mode):
    """The operator refuses the cluster's pod and service ranges by default, found by listing
    Nodes (spec.podCIDRs) and ServiceCIDRs at start. In either mode that is a cluster-wide
    `list` of those two and nothing more: no get or watch (a node's status, images, addresses
    are not the operator's business), no other cluster-scoped resource."""
    for account in _install_rbac(kubectl, namespace, cluster_wide=mode == "cluster-wide"):
        user = f"system:serviceaccount:{namespace}:{account}"
        assert [r for r in EGRESS_DISCOVERY if not can(kubectl, user, "list", r, None)] == []
        assert [
            (verb, r)
            for r in EGRESS_DISCOVERY
            for verb in ("get", "watch", "create", "update", "patch", "delete")
            if can(kubectl, user, verb, r, None)
        ] == []
        assert [
            r
            for r in (
                "persistentvolumes",
                "nodes/proxy",
                "clusterroles.rbac.authorization.k8s.io",
                "storageclasses.storage.k8s.io",
                "validatingadmissionpolicies.admissionregistration.k8s.io",
            )
            if can(kubectl, user, "list", r, None)
        ] == []
        # the rules that name them give exactly list, whatever else the account may do
        rows = kubectl.run("auth", "can-i", "--list", "--as", user, "--namespace", namespace).stdout.splitlines()
        verbs = {
            row.split()[0]: row.split("[")[-1].rstrip("]").split()
            for row in rows
            if row.split() and row.split()[0] in EGRESS_DISCOVERY
        }
        assert verbs == {r: ["list"] for r in EGRESS_DISCOVERY}, rows


def _can_on_lease(kubectl: Kubectl, user: str, verb: str, name: str | None, namespace: str) -> bool:
    return can(kubectl, user, verb, "leases.coordination.k8s.io", namespace, name=name or "")


@pytest.mark.parametrize("mode", ["namespaced", "cluster-wide"])
def test_operator_account_may_keep_its_one_leader_lease_and_no_other(kubectl: Kubectl, namespace: str, crds, mode):
    """get and update on the Lease named like the release, create in the release's namespace;
    nothing on any other Lease, nowhere else, and no list, watch or delete."""
    for account in _install_rbac(kubectl, namespace, cluster_wide=mode == "cluster-wide"):
        user = f"system:serviceaccount:{namespace}:{account}"
        lease = account  # both are the release's fullname
        assert [v for v in ("get", "update") if not _can_on_lease(kubectl, user, v, lease, namespace)] == []
        assert _can_on_lease(kubectl, user, "create", None, namespace)
        assert [
            (verb, name, where)
            for verb in ("get", "update", "patch", "delete", "list", "watch")
            for name, where in ((lease, namespace), ("kube-controller-manager", namespace), (lease, "kube-system"))
            if (verb, name, where) not in {("get", lease, namespace), ("update", lease, namespace)}
            if _can_on_lease(kubectl, user, verb, name, where)
        ] == []
        assert not _can_on_lease(kubectl, user, "create", None, "kube-system")


@pytest.mark.parametrize("mode", ["namespaced", "cluster-wide"])
def test_retention_account_may_only_list_the_four_kinds(kubectl: Kubectl, namespace: str, crds, mode):
    """`ballast gc` reads what references the store and nothing else: list on the four kinds
    where it collects (the watched namespace, or every namespace), no get, watch or write, no
    Namespaces (it finds them in the store), no Secrets, Pods or Jobs."""
    for account in _install_rbac(kubectl, namespace, cluster_wide=mode == "cluster-wide", component="retention"):
        user = f"system:serviceaccount:{namespace}:{account}"
        assert [kind for kind in FOUR_KINDS if not can(kubectl, user, "list", kind, namespace)] == []
        assert [
            (verb, kind)
            for kind in FOUR_KINDS
            for verb in ("get", "watch", "create", "patch", "delete")
            if can(kubectl, user, verb, kind, namespace)
        ] == []
        assert [
            (verb, kind)
            for kind in FOUR_KINDS
            for verb in ("patch", "update")
            if can(kubectl, user, verb, f"{kind}/status", namespace)
        ] == []
        assert [
            r
            for r in ("secrets", "pods", "jobs.batch", "persistentvolumeclaims", "configmaps")
            if can(kubectl, user, "list", r, namespace)
        ] == []
        assert not can(kubectl, user, "list", "namespaces", None)
        everywhere = can(kubectl, user, "list", "datasets.ballast.dev", None)
        assert everywhere == (mode == "cluster-wide")
        assert can(kubectl, user, "list", "datasets.ballast.dev", "default") == (mode == "cluster-wide")


@pytest.fixture
def own_namespace(kubectl: Kubectl):
    """A namespace outside the session operator's `t-*` pattern, so that the operator under
    test is the only one serving it."""
    yield from make_namespace(kubectl, restricted=False, prefix="chart-")


def _token_kubeconfig(kubectl: Kubectl, namespace: str, account: str, path: Path) -> Path:
    """A kubeconfig that authenticates as the ServiceAccount, as the in-cluster config would."""
    token = kubectl.run("create", "token", account, "--namespace", namespace, "--duration=1h").stdout.strip()
    config = yaml.safe_load(Path(kubectl.kubeconfig).read_text())
    context = next(c for c in config["contexts"] if c["name"] == config["current-context"])["context"]
    cluster = next(c for c in config["clusters"] if c["name"] == context["cluster"])
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [cluster],
                "current-context": "operator",
                "contexts": [{"name": "operator", "context": {"cluster": cluster["name"], "user": "operator"}}],
                "users": [{"name": "operator", "user": {"token": token}}],
            }
        )
    )
    return path


def test_operator_with_only_the_charts_rbac_trains_and_serves_a_model(
    kubectl: Kubectl, own_namespace: str, crds, tmp_path: Path
):
    """Sufficiency, not only minimality: the operator, authenticated as the chart's account in
    namespaced mode, takes a Dataset through training to a served Production model, and its
    log holds no error and no permission problem."""
    for account in _install_rbac(kubectl, own_namespace):
        config = _token_kubeconfig(kubectl, own_namespace, account, tmp_path / "kubeconfig")
        log = tmp_path / "operator.log"
        # elected on the chart's Lease (named like the release's account), with only the chart's rights to it
        election = {"BALLAST_LEADER_ELECTION_NAMESPACE": own_namespace}
        with OperatorProcess(
            config, log, store_dir=shared_store_dir(), namespaces=(own_namespace,), lease=account, env=election
        ) as process:
            k = kubectl.in_namespace(own_namespace)
            k.apply(dataset("iris", {"inline": {"rows": iris_rows()}}))
            wait_for_condition(k, "dataset", "iris", "Ready", timeout=120)
            run = training_run("first", "iris")
            run["spec"]["modelVersionTemplate"] = {"serving": {"replicas": 1}, "rollout": {"strategy": "Immediate"}}
            k.apply(run)
            trained = wait_for_condition(k, "trainingrun", "first", "Succeeded", timeout=180)
            version = trained["status"]["modelVersion"]
            wait_for_stage(k, version, "Production")
            assert k.get_json("service", "iris")["spec"]["selector"]
        refusals = [
            line for line in log.read_text().splitlines() if "Forbidden" in line or "permission" in line.lower()
        ]
        problems = process.log_problems() + refusals
        assert problems == [], "\n".join(problems)
