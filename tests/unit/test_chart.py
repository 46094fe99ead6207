"""The Helm chart, rendered by a real helm (built from its Go module): lint, schema, CRDs from
the single source, least-privilege RBAC, and a Deployment that matches the operator's settings.

What needs an API server (server-side dry run, Pod Security admission, `kubectl auth can-i`)
is in tests/integration/test_chart.py.
"""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

import ballast
from ballast.build.jobs import build_ingest_job
from ballast.build.pods import SCRATCH_DIR, STORE_VOLUME, pod_spec
from ballast.build.security import restricted_container_security_context, restricted_pod_security_context
from ballast.net.egress import EgressPolicy
from ballast.settings import Settings
from tests.support.helm import CHART, find, helm, rendered, template
from tests.support.kube import REPO

NAMESPACED = {"watch.namespaces": ["team-a", "team-b"]}
FORBIDDEN_VERBS = {"*", "escalate", "bind", "impersonate"}
ADMIN_MANAGED_ACCOUNTS = {
    "rbac.create": False,
    "serviceAccount.create": False,
    "serviceAccount.name": "ops",
    "retention.serviceAccountName": "ops-retention",
}


# --- lint and schema ---------------------------------------------------------------------


@pytest.mark.tools
@pytest.mark.parametrize("values", [{}, NAMESPACED], ids=["cluster-wide", "namespaced"])
def test_lint_passes_strictly(values):
    args = [arg for key, value in values.items() for arg in ("--set-json", f"{key}={json.dumps(value)}")]
    result = helm("lint", "--strict", str(CHART), *args)
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.tools
@pytest.mark.parametrize(
    "key, value, message",
    [
        ("imagee", {"repository": "x"}, "additional properties 'imagee' not allowed"),
        ("operator.healthPortt", 8081, "additional properties 'healthPortt' not allowed"),
        ("store.claim.sise", "1Gi", "additional properties 'sise' not allowed"),
        ("operator.healthPort", "8080", "at '/operator/healthPort': got string, want integer"),
        ("crds.keep", "yes", "at '/crds/keep': got string, want boolean"),
        ("watch.namespaces", "team-a", "at '/watch/namespaces': got string, want array"),
        ("image.pullPolicy", "Sometimes", "/image/pullPolicy"),
        ("tracking.url", "http://mlflow:5000", "additional properties 'url' not allowed"),
        ("tracking.uri", "mlflow:5000", "/tracking/uri"),
    ],
)
def test_schema_rejects_typos_and_wrong_types(key, value, message):
    result = template({key: value}, check=False)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


def _schema_objects(node, path="values"):
    if node.get("type") == "object" or "properties" in node:
        yield path, node
    for name, child in (node.get("properties") or {}).items():
        yield from _schema_objects(child, f"{path}.{name}")


def test_every_declared_object_in_the_schema_forbids_unknown_keys():
    schema = json.loads((CHART / "values.schema.json").read_text())
    open_objects = [
        path
        for path, node in _schema_objects(schema)
        if "properties" in node and node.get("additionalProperties") is not False
    ]
    assert open_objects == []


def _defaults(node, path=()):
    for name, child in (node.get("properties") or {}).items():
        if "properties" in child:
            yield from _defaults(child, (*path, name))
        else:
            yield (*path, name), child.get("default", "<no default>")


def test_schema_defaults_are_values_yaml():
    """The schema documents each value with its default; values.yaml is what Helm uses."""
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    schema = json.loads((CHART / "values.schema.json").read_text())
    for path, default in _defaults(schema):
        actual = values
        for part in path:
            actual = actual[part]
        assert actual == default, ".".join(path)


def test_chart_installs_this_version_of_ballast():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["appVersion"] == ballast.__version__


# --- CRDs ----------------------------------------------------------------------------------


def test_chart_crds_are_rendered_from_crds_dir(tmp_path):
    subprocess.run(["bash", str(REPO / "charts" / "render-crds.sh"), str(tmp_path)], check=True)
    committed = CHART / "templates" / "crds"
    fresh = {p.name: p.read_text() for p in tmp_path.glob("*.yaml")}
    assert fresh == {p.name: p.read_text() for p in committed.glob("*.yaml")}, (
        "charts/ballast/templates/crds is stale: run charts/render-crds.sh"
    )
    assert sorted(fresh) == sorted(p.name for p in (REPO / "crds").glob("*.yaml"))


@pytest.mark.tools
def test_rendered_crds_are_the_generated_ones_plus_keep_and_release_labels():
    crds = {o["metadata"]["name"]: o for o in find(rendered(), "CustomResourceDefinition")}
    for path in (REPO / "crds").glob("*.yaml"):
        source = yaml.safe_load(path.read_text())
        crd = crds[source["metadata"]["name"]]
        assert crd["spec"] == source["spec"]
        assert crd["metadata"]["labels"].items() >= source["metadata"]["labels"].items()
        assert crd["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
        assert crd["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}


@pytest.mark.tools
def test_crds_can_be_left_out_or_left_unkept():
    assert find(rendered({"crds.install": False}), "CustomResourceDefinition") == []
    unkept = find(rendered({"crds.keep": False}), "CustomResourceDefinition")
    assert len(unkept) == 4 and all("annotations" not in crd["metadata"] for crd in unkept)


# --- RBAC ------------------------------------------------------------------------------------


def _rules(objects):
    return [
        (o["kind"], o["metadata"].get("namespace"), rule)
        for o in objects
        if o["kind"] in ("ClusterRole", "Role")
        for rule in o["rules"]
    ]


def _grants(rules):
    """{(apiGroup, resource): verbs} over a list of rules."""
    grants: dict[tuple[str, str], set[str]] = {}
    for rule in rules:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                grants.setdefault((group, resource), set()).update(rule["verbs"])
    return grants


@pytest.mark.tools
@pytest.mark.parametrize("values", [{}, NAMESPACED], ids=["cluster-wide", "namespaced"])
def test_rbac_has_no_wildcards_secrets_or_escalation(values):
    rules = _rules(rendered(values))
    assert rules
    for kind, namespace, rule in rules:
        where = f"{kind} {namespace or ''}: {rule}"
        # no nonResourceURLs; resourceNames only where a grant names its one object (the leader Lease)
        assert set(rule) <= {"apiGroups", "resources", "verbs"} | LEASE_ONLY_KEYS.get(
            tuple(rule["resources"]), set()
        ), where
        for field in ("apiGroups", "resources", "verbs"):
            assert not any("*" in item for item in rule[field]), where
        assert not FORBIDDEN_VERBS & set(rule["verbs"]), where
        assert not {
            "configmaps",
            "serviceaccounts",
            "roles",
            "rolebindings",
            "clusterroles",
            "clusterrolebindings",
            "serviceaccounts/token",
        } & set(rule["resources"]), where
        # a Secret a Dataset's secretRef names: its labels are read (metadata only), never listed;
        # the feedback token Secret is created when absent, never updated or deleted
        if "secrets" in rule["resources"]:
            assert rule["resources"] == ["secrets"] and rule["verbs"] in (["get"], ["create"]), where


LEASE_ONLY_KEYS = {("leases",): {"resourceNames"}}
LEADER_ELECTION = "ballast-leader-election"


def _without_leader_election(objects):
    return [o for o in objects if o["metadata"]["name"] != LEADER_ELECTION]


OPERATOR_GRANTS = {
    ("ballast.dev", "datasets"): {"get", "list", "watch", "patch"},
    ("ballast.dev", "trainingruns"): {"get", "list", "watch", "patch", "create"},
    ("ballast.dev", "modelversions"): {"get", "list", "watch", "patch", "create"},
    ("ballast.dev", "driftpolicies"): {"get", "list", "watch", "patch"},
    ("ballast.dev", "datasets/status"): {"patch"},
    ("ballast.dev", "trainingruns/status"): {"patch"},
    ("ballast.dev", "modelversions/status"): {"patch"},
    ("ballast.dev", "driftpolicies/status"): {"patch"},
    ("ballast.dev", "datasets/finalizers"): {"update"},
    ("ballast.dev", "trainingruns/finalizers"): {"update"},
    ("ballast.dev", "modelversions/finalizers"): {"update"},
    ("batch", "jobs"): {"list", "watch", "create", "delete"},
    ("kubernetes.dask.org", "daskjobs"): {"create", "delete"},
    ("", "pods"): {"list", "watch"},
    ("", "persistentvolumeclaims"): {"get", "create"},
    ("", "secrets"): {"get", "create"},
    ("apps", "deployments"): {"list", "watch", "create", "patch"},
    ("apps", "replicasets"): {"list", "watch"},
    ("", "services"): {"get", "list", "watch", "create", "patch"},
    ("networking.k8s.io", "networkpolicies"): {"list", "watch", "create", "patch"},
    ("autoscaling", "horizontalpodautoscalers"): {"create", "patch", "delete"},
    ("", "events"): {"create"},
}
KOPF_CRD_GRANTS = {("apiextensions.k8s.io", "customresourcedefinitions"): {"list", "watch"}}
# the cluster's service and pod ranges, listed once at start for the egress policy (net/discovery.py)
EGRESS_DISCOVERY_GRANTS = {("networking.k8s.io", "servicecidrs"): {"list"}, ("", "nodes"): {"list"}}


@pytest.mark.tools
def test_cluster_wide_mode_is_one_cluster_role_with_exactly_what_the_operator_does():
    objects = rendered()
    # the leader Lease's Role and RoleBinding are in both modes (test_leader_lease_...)
    assert _without_leader_election(find(objects, "Role")) == []
    assert _without_leader_election(find(objects, "RoleBinding")) == []
    (role,) = find(objects, "ClusterRole", "ballast")  # the others are the tenants' (aggregated)
    # kopf watches no Namespaces when it serves the whole cluster
    assert _grants(role["rules"]) == {**OPERATOR_GRANTS, **KOPF_CRD_GRANTS, **EGRESS_DISCOVERY_GRANTS}
    (binding,) = find(objects, "ClusterRoleBinding", "ballast")  # the other is retention's
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    (account,) = find(objects, "ServiceAccount", "ballast")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": "ballast-system"}
    ]


@pytest.mark.tools
def test_namespaced_mode_grants_work_only_in_the_watched_namespaces():
    objects = rendered(NAMESPACED)
    roles = find(objects, "Role", "ballast")  # the others are retention's (test_retention_rbac_...)
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["team-a", "team-b"]
    for role in roles:
        assert _grants(role["rules"]) == OPERATOR_GRANTS
    bindings = find(objects, "RoleBinding", "ballast")
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["team-a", "team-b"]
    assert all(b["subjects"][0]["namespace"] == "ballast-system" for b in bindings)
    # cluster-wide, only what kopf reads to follow the CRDs and the watched namespaces
    (cluster_role,) = find(objects, "ClusterRole", "ballast")
    assert _grants(cluster_role["rules"]) == {
        **KOPF_CRD_GRANTS,
        **EGRESS_DISCOVERY_GRANTS,
        ("", "namespaces"): {"list", "watch"},
    }
    without_discovery = find(rendered({**NAMESPACED, "egress.discoverClusterCIDRs": False}), "ClusterRole", "ballast")
    assert _grants(without_discovery[0]["rules"]) == {**KOPF_CRD_GRANTS, ("", "namespaces"): {"list", "watch"}}


@pytest.mark.tools
def test_rbac_can_be_left_to_the_cluster_admin():
    objects = rendered(ADMIN_MANAGED_ACCOUNTS)
    assert not [o for o in objects if o["kind"].endswith(("Role", "RoleBinding")) or o["kind"] == "ServiceAccount"]
    (deployment,) = find(objects, "Deployment")
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "ops"
    (cronjob,) = find(objects, "CronJob")
    assert cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["serviceAccountName"] == "ops-retention"
    refused = template({"serviceAccount.create": False, "serviceAccount.name": "ops"}, check=False)
    assert refused.returncode != 0 and "retention.serviceAccountName is required" in refused.stderr


# --- the operator's Deployment -------------------------------------------------------------


def _operator(values=None):
    (deployment,) = find(rendered(values), "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    return deployment, pod, container


def _env(container) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


class _Recording(dict):
    def __init__(self):
        super().__init__()
        self.read: set[str] = set()

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)


@pytest.mark.tools
def test_deployment_runs_two_elected_operators_with_every_setting_from_values():
    deployment, pod, container = _operator()
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    assert container["command"] == ["ballast"]
    assert container["args"] == ["operator", "--health-port=8080", "--metrics-port=9090"]
    recording = _Recording()
    Settings.from_env(recording)
    from_the_pod = {e["name"] for e in container["env"] if "valueFrom" in e}  # e.g. the operator's namespace
    assert recording.read <= set(_env(container)) | from_the_pod, "a setting the operator reads is not set by the chart"
    assert Settings.from_env(_env(container)) == Settings(
        image=f"ballast:{ballast.__version__}", store_storage_class=None, store_secret=None
    )
    bind = next(e for e in container["env"] if e["name"] == "BALLAST_BIND_ADDRESS")
    assert bind["valueFrom"] == {"fieldRef": {"fieldPath": "status.podIP"}}


@pytest.mark.tools
def test_namespaced_mode_passes_each_namespace():
    _, _, container = _operator(NAMESPACED)
    assert container["args"][-2:] == ["--namespace=team-a", "--namespace=team-b"]


@pytest.mark.tools
def test_values_for_the_operators_pods_reach_its_settings():
    _, _, container = _operator(
        {
            "image.repository": "registry.example/ballast",
            "image.tag": "1.2.3",
            "workloads.image.repository": "registry.example/ballast-workload",
            "workloads.image.pullPolicy": "Always",
            "workloads.runAsUser": 4242,
            "store.claim.storageClassName": "shared-rwx",
            "store.claim.size": "50Gi",
            "store.claim.name": "models",
            "timing.pollIntervalSeconds": 0.5,
            "timing.datasetWaitSeconds": 60,
        }
    )
    assert container["image"] == "registry.example/ballast:1.2.3"
    settings = Settings.from_env(_env(container))
    assert settings.image == "registry.example/ballast-workload:1.2.3"
    assert settings.image_pull_policy == "Always"
    assert settings.run_as_user == 4242
    assert (settings.store_claim, settings.store_storage_class, settings.store_claim_size) == (
        "models",
        "shared-rwx",
        "50Gi",
    )
    assert (settings.poll_interval_seconds, settings.dataset_wait_seconds) == (0.5, 60)


@pytest.mark.tools
def test_egress_values_reach_the_settings_and_the_ingest_pods():
    _, _, container = _operator(
        {
            "egress.allow": ["prometheus.monitoring.svc:9090", "10.0.0.0/8"],
            "egress.clusterCIDRs": ["10.96.0.0/12"],
            "drift.minIntervalSeconds": 30,
            "drift.prometheusDeadlineSeconds": 4,
            "drift.prometheusUrl": "http://127.0.0.1:9090",
        }
    )
    env = _env(container)
    settings = Settings.from_env(env)
    assert [str(rule) for rule in settings.egress.allow] == ["prometheus.monitoring.svc:9090", "10.0.0.0/8"]
    assert [str(network) for network in settings.egress.cluster_ranges] == ["10.96.0.0/12"]
    assert "127.0.0.1:9090" in [str(rule) for rule in settings.prometheus_egress.allow]
    assert (settings.drift_min_interval_seconds, settings.prometheus_deadline_seconds) == (30, 4)
    assert env["BALLAST_EGRESS_DISCOVER"] == "true"
    job = build_ingest_job(
        {
            "apiVersion": "ballast.dev/v1alpha1",
            "kind": "Dataset",
            "metadata": {"name": "d", "namespace": "team-a", "uid": "u"},
            "spec": {"source": {"url": "http://x/d.csv"}},
        },
        job_name="d-ingest",
        settings=settings,
    )
    (ingest,) = job["spec"]["template"]["spec"]["containers"]
    ingest_env = {e["name"]: e.get("value") for e in ingest["env"]}
    assert EgressPolicy.from_env(ingest_env) == settings.egress  # the Prometheus allowance stays the operator's


@pytest.mark.tools
def test_workload_placement_reaches_the_settings_and_every_pod_the_operator_builds():
    selector = {"pool": "ml", "kubernetes.io/arch": "amd64"}
    tolerations = [{"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}]
    _, pod, container = _operator({"workloads.nodeSelector": selector, "workloads.tolerations": tolerations})
    settings = Settings.from_env(_env(container))
    assert (settings.node_selector, list(settings.tolerations)) == (selector, tolerations)
    built = pod_spec([], settings, restart_policy="Never")
    assert (built["nodeSelector"], built["tolerations"]) == (selector, tolerations)
    # the operator's own pod is placed by operator.nodeSelector/tolerations, not by these
    assert "nodeSelector" not in pod and "tolerations" not in pod
    assert "nodeSelector" not in pod_spec([], Settings.from_env(_env(_operator()[2])), restart_policy="Never")


@pytest.mark.tools
def test_a_digest_pins_both_images():
    digest = "sha256:" + "ab" * 32
    _, _, container = _operator({"image.digest": digest})
    assert container["image"] == f"ballast@{digest}"
    assert Settings.from_env(_env(container)).image == f"ballast@{digest}"


@pytest.mark.tools
def test_operator_pod_is_restricted_like_the_pods_it_creates():
    _, pod, container = _operator({"operator.runAsUser": 1234})
    assert pod["securityContext"] == restricted_pod_security_context(1234)
    assert container["securityContext"] == restricted_container_security_context()
    assert {"name": "TMPDIR", "value": SCRATCH_DIR} in container["env"]
    assert {"name": "scratch", "mountPath": SCRATCH_DIR} in container["volumeMounts"]
    assert {"name": "scratch", "emptyDir": {}} in pod["volumes"]


@pytest.mark.tools
def test_liveness_probe_and_ports():
    _, _, container = _operator({"operator.healthPort": 8181, "operator.metricsPort": 9191})
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"health": 8181, "metrics": 9191}


@pytest.mark.tools
def test_file_store_mounts_the_claim_the_operator_names_at_the_store_path():
    objects = rendered()
    (deployment,) = find(objects, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    settings = Settings.from_env(_env(pod["containers"][0]))
    assert {"name": STORE_VOLUME, "persistentVolumeClaim": {"claimName": settings.store_claim}} in pod["volumes"]
    assert {"name": STORE_VOLUME, "mountPath": settings.store_mount_path} in pod["containers"][0]["volumeMounts"]
    (claim,) = find(objects, "PersistentVolumeClaim")
    assert claim["metadata"]["name"] == settings.store_claim
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert claim["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}


@pytest.mark.tools
def test_s3_store_needs_no_claim_and_gives_the_operator_its_credentials():
    objects = rendered({"store.uri": "s3://models/ballast", "store.secret": "store-credentials"})
    assert find(objects, "PersistentVolumeClaim") == []
    (deployment,) = find(objects, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert all(v["name"] != STORE_VOLUME for v in pod["volumes"])
    assert pod["containers"][0]["envFrom"] == [{"secretRef": {"name": "store-credentials"}}]
    assert Settings.from_env(_env(pod["containers"][0])).store_secret == "store-credentials"


@pytest.mark.tools
def test_tracking_values_reach_the_settings_and_the_credentials_the_environment():
    _, _, untracked = _operator()
    assert Settings.from_env(_env(untracked)).tracking_uri is None  # nothing contacted by default
    assert "envFrom" not in untracked
    _, _, container = _operator(
        {
            "tracking.uri": "http://mlflow.mlflow.svc:5000",
            "tracking.experiment": "team-a",
            "tracking.secret": "mlflow-credentials",
            "tracking.retrySeconds": 30,
            "store.secret": "store-credentials",
        }
    )
    settings = Settings.from_env(_env(container))
    assert (settings.tracking_uri, settings.tracking_experiment, settings.tracking_retry_seconds) == (
        "http://mlflow.mlflow.svc:5000",
        "team-a",
        30,
    )
    assert container["envFrom"] == [
        {"secretRef": {"name": "store-credentials"}},
        {"secretRef": {"name": "mlflow-credentials"}},
    ]


# --- metrics, ServiceMonitor, NetworkPolicy, labels ----------------------------------------


@pytest.mark.tools
def test_metrics_service_selects_only_the_operator():
    objects = rendered()
    (service,) = find(objects, "Service")
    (deployment,) = find(objects, "Deployment")
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert service["spec"]["selector"]["app.kubernetes.io/component"] == "operator"
    assert service["spec"]["ports"] == [{"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"}]


@pytest.mark.tools
def test_service_monitor_and_network_policy_are_optional():
    objects = rendered()
    assert find(objects, "ServiceMonitor") == [] and find(objects, "NetworkPolicy") == []
    peer = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    objects = rendered(
        {
            "metrics.serviceMonitor.enabled": True,
            "metrics.serviceMonitor.labels": {"release": "prometheus"},
            "networkPolicy.enabled": True,
            "networkPolicy.metricsFrom": [peer],
        }
    )
    (monitor,) = find(objects, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    (policy,) = find(objects, "NetworkPolicy")
    assert policy["spec"]["ingress"] == [{"ports": [{"port": "metrics", "protocol": "TCP"}], "from": [peer]}]


@pytest.mark.tools
def test_every_object_carries_the_recommended_labels():
    for obj in rendered(NAMESPACED | {"metrics.serviceMonitor.enabled": True, "networkPolicy.enabled": True}):
        labels = obj["metadata"]["labels"]
        for key in (
            "app.kubernetes.io/name",
            "app.kubernetes.io/instance",
            "app.kubernetes.io/version",
            "app.kubernetes.io/managed-by",
            "helm.sh/chart",
        ):
            assert key in labels, f"{obj['kind']} {obj['metadata']['name']} lacks {key}"


def test_one_resource_kind_per_template_file():
    for path in (CHART / "templates").rglob("*.yaml"):
        kinds = {line.split(":", 1)[1].strip() for line in path.read_text().splitlines() if line.startswith("kind:")}
        assert len(kinds) == 1, f"{path.name}: {kinds}"


@pytest.mark.tools
def test_the_serving_pod_monitor_selects_the_pods_the_operator_creates_in_the_watched_namespaces():
    from ballast.build.serving import build_serving_deployment

    version = {
        "apiVersion": "ballast.dev/v1alpha1",
        "kind": "ModelVersion",
        "metadata": {"name": "iris-1a2b3c4d5e6f", "namespace": "team-a", "uid": "u"},
        "spec": {"model": "iris", "artifact": {"uri": "file:///var/lib/ballast/m", "sha256": "0" * 64}},
    }
    pod_labels = build_serving_deployment(version, replicas=1, settings=Settings())["spec"]["template"]["metadata"][
        "labels"
    ]
    port_names = {
        p["name"]
        for c in build_serving_deployment(version, replicas=1, settings=Settings())["spec"]["template"]["spec"][
            "containers"
        ]
        for p in c.get("ports", [])
    }
    assert find(rendered(), "PodMonitor") == []  # off by default
    (monitor,) = find(
        rendered({"metrics.servingPodMonitor.enabled": True, "watch.namespaces": ["team-a"]}), "PodMonitor"
    )
    assert monitor["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["team-a"]}
    assert {e["port"] for e in monitor["spec"]["podMetricsEndpoints"]} <= port_names
    (everywhere,) = find(rendered({"metrics.servingPodMonitor.enabled": True}), "PodMonitor")
    assert everywhere["spec"]["namespaceSelector"] == {"any": True}


@pytest.mark.tools
def test_the_operator_gets_an_api_priority_level_of_its_own_with_a_long_queue():
    objects = rendered({"serviceAccount.name": "ops", "apiPriority.queueLengthLimit": 3000})
    (level,) = find(objects, "PriorityLevelConfiguration")
    (schema,) = find(objects, "FlowSchema", level["metadata"]["name"])
    queuing = level["spec"]["limited"]["limitResponse"]["queuing"]
    assert (queuing["queues"], queuing["handSize"], queuing["queueLengthLimit"]) == (1, 1, 3000)
    assert schema["spec"]["priorityLevelConfiguration"]["name"] == level["metadata"]["name"]
    # below the control plane's own schemas (at most 900), above the catch-all for ServiceAccounts (9000)
    assert 900 < schema["spec"]["matchingPrecedence"] < 9000
    [rule] = schema["spec"]["rules"]
    assert rule["subjects"] == [
        {"kind": "ServiceAccount", "serviceAccount": {"name": "ops", "namespace": "ballast-system"}}
    ]
    assert not find(rendered({"apiPriority.enabled": False}), "FlowSchema")
    assert not find(rendered({"apiPriority.enabled": False}), "PriorityLevelConfiguration")


def test_the_leaders_lease_requests_skip_the_operators_own_queue():
    objects = rendered({"serviceAccount.name": "ops"})
    (lease_schema,) = [s for s in find(objects, "FlowSchema") if s["metadata"]["name"].endswith("-leader-election")]
    (operator_schema,) = [s for s in find(objects, "FlowSchema") if s is not lease_schema]
    assert lease_schema["spec"]["priorityLevelConfiguration"]["name"] == "leader-election"
    # matched first: a request goes to the first schema that matches it
    assert lease_schema["spec"]["matchingPrecedence"] < operator_schema["spec"]["matchingPrecedence"]
    [rule] = lease_schema["spec"]["rules"]
    assert rule["subjects"] == operator_schema["spec"]["rules"][0]["subjects"]
    assert rule["resourceRules"] == [
        {
            "verbs": ["get", "create", "update"],
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "namespaces": ["ballast-system"],
        }
    ]
    single = rendered({"operator.leaderElection.enabled": False, "operator.replicas": 1})
    assert not find(single, "FlowSchema", lease_schema["metadata"]["name"])


# --- high availability: two replicas, one leader -------------------------------------------


@pytest.mark.parametrize("values", [{}, NAMESPACED], ids=["cluster-wide", "namespaced"])
def test_leader_lease_rbac_is_get_and_update_on_the_one_lease_and_create_in_the_release_namespace(values):
    objects = rendered(values)
    (role,) = find(objects, "Role", LEADER_ELECTION)
    assert role["metadata"]["namespace"] == "ballast-system"
    assert role["rules"] == [
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": ["ballast"],
            "verbs": ["get", "update"],
        },
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
    ]
    (binding,) = find(objects, "RoleBinding", LEADER_ELECTION)
    assert binding["metadata"]["namespace"] == "ballast-system"
    assert binding["roleRef"]["name"] == LEADER_ELECTION
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "ballast", "namespace": "ballast-system"}]
    # leases appear nowhere else
    others = [r for kind, _, r in _rules(_without_leader_election(objects)) if "leases" in r["resources"]]
    assert others == []


def test_each_replica_names_itself_and_the_lease_the_role_grants():
    _, pod, container = _operator()
    env = {e["name"]: e for e in container["env"]}
    assert env["POD_ID"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["BALLAST_LEADER_ELECTION"]["value"] == "true"
    assert env["BALLAST_LEADER_ELECTION_LEASE"]["value"] == "ballast"
    # the Lease's namespace is the operator's own (BALLAST_OPERATOR_NAMESPACE, downward API)
    assert env["BALLAST_OPERATOR_NAMESPACE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    (term,) = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert term["podAffinityTerm"]["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] == "operator"
    _, own, _ = _operator({"operator.affinity": {"nodeAffinity": {}}})
    assert own["affinity"] == {"nodeAffinity": {}}


def test_a_disruption_budget_keeps_one_replica_through_drains():
    objects = rendered()
    (budget,) = find(objects, "PodDisruptionBudget")
    (deployment,) = find(objects, "Deployment")
    assert budget["spec"]["maxUnavailable"] == 1
    assert budget["spec"]["selector"] == deployment["spec"]["selector"]
    assert find(rendered({"operator.replicas": 1}), "PodDisruptionBudget") == []


def test_a_single_replica_may_run_without_election_but_two_may_not():
    objects = rendered({"operator.replicas": 1, "operator.leaderElection.enabled": False})
    assert find(objects, "Role", LEADER_ELECTION) == []
    (deployment,) = find(objects, "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert _env(container)["BALLAST_LEADER_ELECTION"] == "false"
    refused = template({"operator.leaderElection.enabled": False}, check=False)
    assert refused.returncode != 0 and "needs operator.leaderElection.enabled" in refused.stderr
