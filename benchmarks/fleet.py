"""A fleet of Ballast objects on the local cluster for the scale and soak benchmarks: KWOK
fake nodes for their pods, an operator of their own, the objects, and the cleanup.

Everything a fleet creates carries the label ballast.dev/bench=<id> (id: "s" + 4 hex digits)
and lives in the namespaces <id>-0.. (objects) and <id>-ops (the operator), or is
cluster-scoped and named <id>-...: never a test session's t*-* namespaces. The operator's Helm
release is named <id> too (its cluster-scoped objects carry app.kubernetes.io/instance=<id>).

- The operator: by default the Helm chart's Deployment in <id>-ops, a pod on the real node under
  the chart's memory limit, watching only the fleet's namespaces (chart_operator.py). With
  host_process, `ballast operator` on the host instead (host_operator.py, for investigations),
  as a ServiceAccount bound to cluster-admin.
- Pods: workloads.nodeSelector and workloads.tolerations (the operator's
  BALLAST_WORKLOAD_NODE_SELECTOR/_TOLERATIONS) put every pod the operator creates on the fleet's
  fake nodes, so only the control plane and the operator do work; KWOK marks the pods Running
  and Ready, and completes Job pods (exit 0). The fake nodes' taint keeps every other pod on the
  shared cluster, the operator's own included, off them.
- Requests: the chart's FlowSchema sends the operator's requests to the chart's priority level
  (apiPriority), or, with chart_api_priority=False, a FlowSchema of the fleet's sends them to
  workload-low, where a ServiceAccount's requests go on a cluster without it. The API server's
  APF counters for that FlowSchema are the operator's request count and its 429s, from the
  server's side.
- Objects, per index i (namespace i % namespaces): Dataset ds-i (inline rows; its ingest Job's
  KWOK pod exits 0 without a result, so the Dataset settles at Ready=False IngestFailed);
  TrainingRun tr-i on ds-i (no valid version: waits BALLAST_DATASET_WAIT_SECONDS, then fails
  DatasetNotReady); ModelVersion mv-i of model m-i with a real verified artifact, served
  (Deployment, Service, pod on a fake node, Production) when i is even, registry-only when odd;
  DriftPolicy dp-i on a model without a Production version (KWOK pods serve no /metrics to
  scrape), so its timer runs its reconcile every poll interval without evaluating.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import urllib3
import yaml
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

REPO = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(REPO), str(REPO / "tests" / "cluster")]

import localcluster  # noqa: E402
from tests.support.faults import static_store_claim  # noqa: E402
from tests.support.helm import Release, image_values  # noqa: E402
from tests.support.image import ballast_image  # noqa: E402
from tests.support.kube import Kubectl, install_crds  # noqa: E402
from tests.support.operator_process import OperatorProcess  # noqa: E402

from ballast.api.kinds import GROUP, VERSION  # noqa: E402
from ballast.conditions import find_condition  # noqa: E402
from chart_operator import HEALTH_PORT, METRICS_PORT, REPLICAS, ChartOperator  # noqa: E402
from probes import cpu_seconds, rss_bytes  # noqa: E402

PLURALS = ("datasets", "trainingruns", "modelversions", "driftpolicies")
BENCH_LABEL = "ballast.dev/bench"
FAKE_NODE_TAINT = {"key": "kwok.x-k8s.io/node", "value": "fake", "effect": "NoSchedule"}
FAKE_NODE_ANNOTATION = "kwok.x-k8s.io/node"
OPERATOR_ACCOUNT = "ballast-operator"
# Ballast's defaults (settings.py), not the tests' quick ones, except where a benchmark says:
# the host process starts from the tests' settings (OperatorProcess); the chart's are these
DEFAULT_SETTINGS = {
    "BALLAST_POLL_INTERVAL_SECONDS": "2",
    "BALLAST_REFRESH_CHECK_SECONDS": "15",
    "BALLAST_VERIFY_INTERVAL_SECONDS": "600",
    "BALLAST_SUPERSEDED_GRACE_SECONDS": "30",
}
# TrainingRuns whose Dataset never gets a valid version settle (fail) after this long
DATASET_WAIT_SECONDS = 60


def mib(n_bytes: float) -> float:
    return n_bytes / 2**20


@dataclass
class Fleet:
    count_per_kind: int = 500
    namespace_count: int = 4
    fake_node_count: int = 2
    id: str = field(default_factory=lambda: "s" + secrets.token_hex(2))
    kubeconfig: Path = field(default_factory=localcluster.kubeconfig_path)
    chart_api_priority: bool = True
    """The operator's requests go to the chart's own priority level (apiPriority.enabled), or,
    when False, to workload-low, where a ServiceAccount's requests go on a cluster without it."""
    host_process: bool = False
    """`ballast operator` on the host (host_operator.py) instead of the chart's pod."""
    image: str | None = None
    """The operator's image for the chart (default: the tests' own, built and pushed)."""
    operator_env: dict[str, str] = field(default_factory=dict)
    """Extra environment of the operator (the chart's operator.extraEnv)."""

    def __post_init__(self) -> None:
        self.namespaces = [f"{self.id}-{n}" for n in range(self.namespace_count)]
        self.ops_namespace = f"{self.id}-ops"
        self.work_dir = Path(f"/tmp/{self.id}-bench")
        self.store_dir = self.work_dir / "store"
        self.operator_kubeconfig = self.work_dir / "operator-kubeconfig"
        self.operator_log = self.work_dir / "operator.log"
        # named as the chart names it for a release called after the fleet
        self.flow_schema = f"{self.id}-ballast" if self.chart_api_priority else f"{self.id}-operator"
        self.api = config.new_client_from_config(config_file=str(self.kubeconfig))
        self.core = client.CoreV1Api(self.api)
        self.custom = client.CustomObjectsApi(self.api)
        self.kubectl = Kubectl(self.kubeconfig)
        self.artifacts: dict[str, dict] = {}
        """The model every ModelVersion of a namespace registers, under that namespace's prefix."""
        self.operator: BenchOperator | ChartOperator | None = None
        self.release = Release(self.id, self.ops_namespace, self.kubeconfig)

    @property
    def selector(self) -> str:
        return f"{BENCH_LABEL}={self.id}"

    @property
    def labels(self) -> dict:
        return {BENCH_LABEL: self.id}

    def namespace_of(self, index: int) -> str:
        return self.namespaces[index % self.namespace_count]

    # --- the cluster side -------------------------------------------------------------------

    def prepare(self) -> None:
        """Fake nodes, namespaces, the operator's identity and store, one model artifact."""
        install_crds(self.kubectl)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.store_dir.mkdir(parents=True, exist_ok=True)
        for n in range(self.fake_node_count):
            self.core.create_node(self._fake_node(f"{self.id}-kwok-{n}"))
        for namespace in [*self.namespaces, self.ops_namespace]:
            self.core.create_namespace({"metadata": {"name": namespace, "labels": self.labels}})
        # the claim Ballast's pods mount, bound in advance: the operator leaves an existing
        # claim alone, and the node's provisioner never sees one; the chart's operator pod
        # mounts the same directory from the ops namespace
        for namespace in self.namespaces if self.host_process else [*self.namespaces, self.ops_namespace]:
            volume, claim = static_store_claim(namespace, self.store_dir)
            volume["metadata"]["labels"] = self.labels
            self.core.create_persistent_volume(volume)
            self.core.create_namespaced_persistent_volume_claim(namespace, claim)
        if self.host_process:
            self._create_identity()
        elif not self.chart_api_priority:
            self._create_flow_control(OPERATOR_ACCOUNT)  # the chart's own FlowSchema is off
        self.artifacts = self._write_artifacts()
        self._wait_for_fake_nodes()

    def _fake_node(self, name: str) -> dict:
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                "labels": {
                    **self.labels,
                    "type": "kwok",
                    "kubernetes.io/hostname": name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                },
            },
            "spec": {"taints": [FAKE_NODE_TAINT]},
        }

    def _wait_for_fake_nodes(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            nodes = self.core.list_node(label_selector=self.selector).items
            ready = [
                n for n in nodes if any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or [])
            ]
            if len(ready) == self.fake_node_count:
                return
            time.sleep(0.5)
        raise TimeoutError(f"KWOK did not make the fake nodes of {self.id} Ready in {timeout}s")

    @property
    def workload_tolerations(self) -> list[dict]:
        """What lets the operator's pods onto the fake nodes (whose labels are their nodeSelector)."""
        return [{"key": FAKE_NODE_TAINT["key"], "operator": "Exists", "effect": "NoSchedule"}]

    def real_node(self) -> str | None:
        """The cluster's one node that is not a fake one (the kubelet on this machine), if one."""
        nodes = [
            n.metadata.name
            for n in self.core.list_node().items
            if FAKE_NODE_ANNOTATION not in (n.metadata.annotations or {})
        ]
        return nodes[0] if len(nodes) == 1 else None

    def _create_identity(self) -> None:
        account = OPERATOR_ACCOUNT
        self.core.create_namespaced_service_account(self.ops_namespace, {"metadata": {"name": account}})
        client.RbacAuthorizationV1Api(self.api).create_cluster_role_binding(
            {
                "metadata": {"name": f"{self.id}-operator", "labels": self.labels},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
                "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": self.ops_namespace}],
            }
        )
        self._create_flow_control(account)
        token = self.core.create_namespaced_service_account_token(
            account, self.ops_namespace, {"spec": {"expirationSeconds": 12 * 3600}}
        ).status.token
        admin = yaml.safe_load(self.kubeconfig.read_text())
        cluster = admin["clusters"][0]
        self.operator_kubeconfig.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [cluster],
                    "users": [{"name": "ballast-operator", "user": {"token": token}}],
                    "contexts": [
                        {"name": "bench", "context": {"cluster": cluster["name"], "user": "ballast-operator"}}
                    ],
                    "current-context": "bench",
                }
            )
        )
        self.operator_kubeconfig.chmod(0o600)

    def _create_flow_control(self, account: str) -> None:
        """The FlowSchema whose APF counters are the operator's requests and 429s, from the API
        server's side: the chart's own (with its priority level), or one sending the account
        to workload-low. Either way every request of the operator's account matches it."""
        flow = client.FlowcontrolApiserverV1Api(self.api)
        if not self.chart_api_priority:
            flow.create_flow_schema(
                {
                    "metadata": {"name": self.flow_schema, "labels": self.labels},
                    "spec": {
                        "priorityLevelConfiguration": {"name": "workload-low"},
                        "matchingPrecedence": 1000,
                        "distinguisherMethod": {"type": "ByUser"},
                        "rules": [
                            {
                                "subjects": [
                                    {
                                        "kind": "ServiceAccount",
                                        "serviceAccount": {"name": account, "namespace": self.ops_namespace},
                                    }
                                ],
                                "resourceRules": [
                                    {
                                        "verbs": ["*"],
                                        "apiGroups": ["*"],
                                        "resources": ["*"],
                                        "clusterScope": True,
                                        "namespaces": ["*"],
                                    }
                                ],
                                "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
                            }
                        ],
                    },
                }
            )
            return
        from tests.support.helm import helm

        rendered = helm(
            "template",
            self.id,
            str(REPO / "charts" / "ballast"),
            "--namespace",
            self.ops_namespace,
            "--show-only",
            "templates/prioritylevelconfiguration.yaml",
            "--show-only",
            "templates/flowschema.yaml",
            "--set",
            f"serviceAccount.name={account}",
        ).stdout
        for document in yaml.safe_load_all(rendered):
            document["metadata"]["labels"] = {**document["metadata"].get("labels", {}), **self.labels}
            if document["kind"] == "PriorityLevelConfiguration":
                flow.create_priority_level_configuration(document)
            else:
                flow.create_flow_schema(document)

    def _write_artifacts(self) -> dict[str, dict]:
        """One small real model (skops, sha256-addressed), in each namespace's part of the store:
        a ModelVersion may name only artifacts under its own namespace's prefix."""
        from sklearn.datasets import load_iris
        from sklearn.linear_model import LogisticRegression

        from ballast.models.skops_format import serialize_model

        features, target = load_iris(return_X_y=True)
        model = serialize_model(LogisticRegression(max_iter=300).fit(features, target))
        artifacts = {}
        for namespace in self.namespaces:
            path = self.store_dir / namespace / "models" / "bench" / model.sha256 / "model.skops"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(model.data)
            artifacts[namespace] = {"uri": f"file://{path}", "sha256": model.sha256, "format": "skops"}
        return artifacts

    # --- the operator ---------------------------------------------------------------------------

    def start_operator(self) -> BenchOperator | ChartOperator:
        """Installs the chart (or starts the host process); after stop_operator_hard, starts
        the operator again. Returns once it leads."""
        if self.host_process:
            return self._start_host_operator()
        if self.operator is None:
            self.operator = ChartOperator(self.release, self.api, self.operator_log)
            self.operator.install(self.chart_values())
            node = self.core.read_node(self.operator.node)
            if FAKE_NODE_ANNOTATION in (node.metadata.annotations or {}):
                raise RuntimeError(f"the operator's pod runs on the fake node {node.metadata.name}")
        else:
            self.operator.start()
        return self.operator

    def restart_operator(self) -> BenchOperator | ChartOperator:
        """Kills the active operator (SIGKILL, or its pod deleted with grace 0) and returns the
        one that replaces it, once that one leads."""
        if self.host_process:
            self.operator.kill()
            return self._start_host_operator()
        self.operator.replace()
        return self.operator

    def stop_operator_hard(self) -> None:
        """Kills the active operator and keeps it down until start_operator."""
        if self.host_process:
            self.operator.kill()
        else:
            self.operator.stop_hard()

    def chart_values(self) -> dict:
        """The chart's values for the fleet: as shipped (resources, memory limit, leader
        election, APF level) but for one replica (chart_operator.py says why), the fleet's
        namespaces, the store's directory, the fake nodes for the workloads, and
        datasetWaitSeconds (see DATASET_WAIT_SECONDS). The operator itself is held to the
        real node by its hostname, when the cluster has one such node."""
        real_node = self.real_node()
        values = {
            "crds.install": False,  # the fleet applied them (install_crds); Helm would not own them
            "watch.namespaces": self.namespaces,
            "operator.replicas": REPLICAS,
            "operator.metricsPort": METRICS_PORT,
            "operator.healthPort": HEALTH_PORT,
            "operator.extraEnv": [{"name": name, "value": value} for name, value in self.operator_env.items()],
            "serviceAccount.name": OPERATOR_ACCOUNT,
            "apiPriority.enabled": self.chart_api_priority,
            "store.uri": f"file://{self.store_dir}",
            "store.claim.create": False,  # the fleet's own claim on the store's directory
            "timing.datasetWaitSeconds": DATASET_WAIT_SECONDS,
            "retention.enabled": False,
            "workloads.nodeSelector": self.labels,
            "workloads.tolerations": self.workload_tolerations,
            **image_values(self.image or ballast_image()),
        }
        if real_node:
            values["operator.nodeSelector"] = {"kubernetes.io/hostname": real_node}
        return values

    def _start_host_operator(self) -> BenchOperator:
        # OperatorProcess puts the tests' quick settings under these, which restore Ballast's
        # defaults (the storage class of TEST_SETTINGS is unused: the claims exist)
        env = {
            **DEFAULT_SETTINGS,
            "BALLAST_STORE_URI": f"file://{self.store_dir}",
            "BALLAST_DATASET_WAIT_SECONDS": str(DATASET_WAIT_SECONDS),
            "BALLAST_WORKLOAD_NODE_SELECTOR": json.dumps(self.labels),
            "BALLAST_WORKLOAD_TOLERATIONS": json.dumps(self.workload_tolerations),
            **self.operator_env,
        }
        self.operator = BenchOperator(
            self.operator_kubeconfig, self.operator_log, env=env, namespaces=tuple(self.namespaces)
        )
        self.operator.start()
        (self.work_dir / "operator.pid").write_text(f"{self.operator.pid}\n")
        return self.operator

    # --- the objects ----------------------------------------------------------------------------

    def manifests(self, index: int) -> dict[str, dict]:
        meta = lambda name: {"name": name, "namespace": self.namespace_of(index), "labels": self.labels}  # noqa: E731
        rows = [{"x": float(r), "y": float(r % 3), "label": r % 2} for r in range(12)]
        served = index % 2 == 0
        return {
            "datasets": {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "Dataset",
                "metadata": meta(f"ds-{index}"),
                "spec": {
                    "source": {"inline": {"rows": rows}},
                    "format": "csv",
                    "schema": {
                        "columns": [
                            {"name": "x", "type": "float"},
                            {"name": "y", "type": "float"},
                            {"name": "label", "type": "integer"},
                        ],
                        "target": "label",
                    },
                    "validation": {"minRows": 10},
                },
            },
            "trainingruns": {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "TrainingRun",
                "metadata": meta(f"tr-{index}"),
                "spec": {
                    "model": f"m-{index}",
                    "datasetRef": {"name": f"ds-{index}"},
                    "estimator": "sklearn.linear_model.LogisticRegression",
                    "seed": index,
                    "activeDeadlineSeconds": 300,
                    "backoffLimit": 0,
                    "evaluation": {"testFraction": 0.3},
                },
            },
            "modelversions": {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "ModelVersion",
                "metadata": meta(f"mv-{index}"),
                "spec": {
                    "model": f"m-{index}",
                    "artifact": self.artifacts[self.namespace_of(index)],
                    "serving": {"enabled": served, "replicas": 1},
                    "rollout": {"strategy": "Immediate", "analysisInterval": "60s"},
                },
            },
            "driftpolicies": {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "DriftPolicy",
                "metadata": meta(f"dp-{index}"),
                # the registry-only model of an odd index; a model not registered
                # (yet) for an even one: neither has a Production version
                "spec": {
                    "model": f"m-{index}" if not served else f"m-{index}-next",
                    "interval": "5m",
                    "cooldown": "60m",
                },
            },
        }

    def create_objects(self, workers: int = 8) -> float:
        """Creates every object; returns the seconds it took."""
        started = time.monotonic()

        def create(index: int) -> None:
            for plural, manifest in self.manifests(index).items():
                try:
                    _retrying(
                        lambda: self.custom.create_namespaced_custom_object(
                            GROUP, VERSION, manifest["metadata"]["namespace"], plural, manifest
                        )
                    )
                except ApiException as error:
                    if error.status != 409:  # created by an attempt whose answer was lost
                        raise

        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            list(pool.map(create, range(self.count_per_kind)))
        return time.monotonic() - started

    def spec_change(self, plural: str, generation: int) -> dict:
        """A merge patch that changes the spec (so the generation moves on) and nothing else
        the fleet depends on."""
        step = generation + 1
        return {
            "datasets": {"spec": {"validation": {"minRows": 10 + step}}},  # a new ingest Job
            "trainingruns": {"spec": {"activeDeadlineSeconds": 300 + step}},
            "modelversions": {"spec": {"rollout": {"analysisInterval": f"{60 + step}s"}}},
            "driftpolicies": {"spec": {"cooldown": f"{60 + step}m"}},
        }[plural]

    def patch_spec(self, plural: str, namespace: str, name: str, generation: int) -> dict:
        return _retrying(
            lambda: self.custom.patch_namespaced_custom_object(
                GROUP,
                VERSION,
                namespace,
                plural,
                name,
                self.spec_change(plural, generation),
                _content_type="application/merge-patch+json",
            )
        )

    # --- checks ---------------------------------------------------------------------------------

    def pods_off_fake_nodes(self) -> list[str]:
        """Pods of the fleet's namespaces bound to any node but its fake ones (must be none)."""
        fake = {f"{self.id}-kwok-{n}" for n in range(self.fake_node_count)}
        stray = []
        for namespace in self.namespaces:
            for pod in self.core.list_namespaced_pod(namespace).items:
                if pod.spec.node_name and pod.spec.node_name not in fake:
                    stray.append(f"{namespace}/{pod.metadata.name} on {pod.spec.node_name}")
        return stray

    # --- cleanup --------------------------------------------------------------------------------

    def cleanup(self) -> list[str]:
        """Deletes everything the fleet created; returns what could not be deleted."""
        problems = []
        try:
            if self.operator is not None:
                self.operator.stop()
            else:
                _stop_operator_of(self.work_dir)
                if self.release.exists():
                    self.release.uninstall(timeout=120)
        except (AssertionError, subprocess.TimeoutExpired) as error:  # helm failed: the sweep below
            problems.append(f"helm uninstall {self.id}: {str(error)[:300]}")
        rbac, flow = client.RbacAuthorizationV1Api(self.api), client.FlowcontrolApiserverV1Api(self.api)
        for namespace in self._remaining_namespaces():
            _ignore_missing(lambda: self.core.delete_namespace(namespace), problems)
        # with the operator gone its finalizers stay: take them off, or the namespaces never go
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            remaining = self._remaining_namespaces()
            if not remaining:
                break
            for namespace in remaining:
                self._remove_finalizers(namespace)
            time.sleep(2)
        else:
            problems.append(f"namespaces still terminating: {self._remaining_namespaces()}")
        for volume in self.core.list_persistent_volume(label_selector=self.selector).items:
            _ignore_missing(lambda: self.core.delete_persistent_volume(volume.metadata.name), problems)
        for node in self.core.list_node(label_selector=self.selector).items:
            _ignore_missing(lambda: self.core.delete_node(node.metadata.name), problems)
        _ignore_missing(lambda: rbac.delete_cluster_role_binding(f"{self.id}-operator"), problems)
        _ignore_missing(lambda: flow.delete_flow_schema(self.flow_schema), problems)
        for level in flow.list_priority_level_configuration(label_selector=self.selector).items:
            _ignore_missing(lambda: flow.delete_priority_level_configuration(level.metadata.name), problems)
        problems += self._remove_release_leftovers()
        # the operator's log stays, for the report's "problems" (like the tests' operator logs)
        for path in self.work_dir.glob("*"):
            if path != self.operator_log:
                shutil.rmtree(path) if path.is_dir() else path.unlink()
        return problems

    def finish(self, *running, keep: bool = False) -> None:
        """Stops the benchmark's watchers and samplers (whatever has .stop()), then cleans up
        unless asked to keep the fleet."""
        for thing in running:
            if thing is not None:
                thing.stop()
        if not keep:
            problems = self.cleanup()
            print(f"cleanup of {self.id}: {'done' if not problems else problems}", flush=True)

    def _remove_release_leftovers(self) -> list[str]:
        """The chart's cluster-scoped objects that an uninstall that failed (or never ran) left."""
        problems: list[str] = []
        selector = f"app.kubernetes.io/instance={self.id}"
        rbac = client.RbacAuthorizationV1Api(self.api)
        flow = client.FlowcontrolApiserverV1Api(self.api)
        admission = client.AdmissionregistrationV1Api(self.api)
        kinds = [
            (rbac.list_cluster_role_binding, rbac.delete_cluster_role_binding),
            (rbac.list_cluster_role, rbac.delete_cluster_role),
            (flow.list_flow_schema, flow.delete_flow_schema),
            (flow.list_priority_level_configuration, flow.delete_priority_level_configuration),
            (
                admission.list_validating_admission_policy_binding,
                admission.delete_validating_admission_policy_binding,
            ),
            (admission.list_validating_admission_policy, admission.delete_validating_admission_policy),
        ]
        for list_them, delete in kinds:
            for item in list_them(label_selector=selector).items:
                _ignore_missing(lambda: delete(item.metadata.name), problems)
        return problems

    def _remaining_namespaces(self) -> list[str]:
        names = {ns.metadata.name for ns in self.core.list_namespace(label_selector=self.selector).items}
        return sorted(names)

    def _remove_finalizers(self, namespace: str) -> None:
        for plural in PLURALS:
            try:
                items = self.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, plural)["items"]
            except ApiException:
                continue
            for item in items:
                if item["metadata"].get("finalizers"):
                    try:
                        self.custom.patch_namespaced_custom_object(
                            GROUP,
                            VERSION,
                            namespace,
                            plural,
                            item["metadata"]["name"],
                            {"metadata": {"finalizers": None}},
                            _content_type="application/merge-patch+json",
                        )
                    except ApiException:
                        pass


class BenchOperator(OperatorProcess):
    """The operator as a host process (see host_operator.py), as the fleet's ServiceAccount."""

    def command(self) -> list[str]:
        command = [
            sys.executable,
            str(HERE / "host_operator.py"),
            "--bind-address",
            "127.0.0.1",
            "--health-port",
            str(self.health_port),
            "--metrics-port",
            str(self.metrics_port),
        ]
        for namespace in self.namespaces:
            command += ["--namespace", namespace]
        return command

    @property
    def pid(self) -> int:
        return self._process.pid

    def rss_bytes(self) -> int:
        return rss_bytes(self.pid)

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    up_after = None
    """As ChartOperator's: a host process starts with a Lease of its own, so it leads once up."""

    def container_line(self) -> str:
        return f"  operator: host process {self.pid}, no memory limit"

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self.__exit__(None, None, None)


class GenerationWatch:
    """The fleet's objects as its watches last saw them, and when each reached a generation.

    One thread per kind: list, then watch from that resourceVersion (again after a watch
    expires). `expect` registers an object whose status.observedGeneration should reach a
    generation; the latency is from the moment given to the first watch event showing it.
    """

    def __init__(self, fleet: Fleet):
        self.fleet = fleet
        self.objects: dict[tuple[str, str, str], dict] = {}
        self.lock = threading.Lock()
        self.pending: dict[tuple[str, str, str], tuple[float, int]] = {}
        self.latencies: list[tuple[float, str, float]] = []
        """(when it was reached, plural, seconds), in the order they were seen."""
        self.restarts = 0
        self.deleted: list[tuple[str, str, str]] = []
        """Objects whose deletion a watch reported: none of the fleet's own doing."""
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(plural,), daemon=True) for plural in PLURALS]
        self._listed = threading.Barrier(len(PLURALS) + 1)

    def start(self) -> None:
        for thread in self._threads:
            thread.start()
        self._listed.wait(timeout=120)

    def stop(self) -> None:
        self._stop.set()

    def _run(self, plural: str) -> None:
        custom = client.CustomObjectsApi(self.fleet.api)
        first = True
        while not self._stop.is_set():
            try:
                listing = custom.list_cluster_custom_object(GROUP, VERSION, plural, label_selector=self.fleet.selector)
                for item in listing["items"]:
                    self._seen(plural, item)
                if first:
                    first = False
                    self._listed.wait(timeout=120)
                stream = watch.Watch()
                for event in stream.stream(
                    custom.list_cluster_custom_object,
                    GROUP,
                    VERSION,
                    plural,
                    label_selector=self.fleet.selector,
                    timeout_seconds=240,
                    resource_version=listing["metadata"]["resourceVersion"],
                ):
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self._seen(plural, event["object"])
                    elif event["type"] == "DELETED":
                        with self.lock:
                            self.objects.pop(_key(plural, event["object"]), None)
                            self.deleted.append(_key(plural, event["object"]))
                    if self._stop.is_set():
                        stream.stop()
            except Exception as error:  # noqa: BLE001
                # expired (410), or closed by the server (a CRD of the kind was applied again,
                # e.g. by a test session starting): list again, which also catches up
                self.restarts += 1
                if not isinstance(error, ApiException) or error.status != 410:
                    print(
                        f"  (watch of {plural} broke: {type(error).__name__}: {str(error)[:120]}; listing again)",
                        file=sys.stderr,
                        flush=True,
                    )
                time.sleep(1)

    def _seen(self, plural: str, item: dict) -> None:
        now = time.monotonic()
        key = _key(plural, item)
        observed = (item.get("status") or {}).get("observedGeneration") or 0
        with self.lock:
            self.objects[key] = item
            expected = self.pending.get(key)
            if expected and observed >= expected[1]:
                del self.pending[key]
                self.latencies.append((now, plural, now - expected[0]))

    def expect(self, key: tuple[str, str, str], since: float, generation: int) -> None:
        with self.lock:
            self.pending[key] = (since, generation)

    def generation(self, key: tuple[str, str, str]) -> int | None:
        with self.lock:
            item = self.objects.get(key)
            return item["metadata"]["generation"] if item else None

    def keys(self, plural: str) -> list[tuple[str, str, str]]:
        with self.lock:
            return [key for key in self.objects if key[0] == plural]

    def snapshot(self) -> list[tuple[str, dict]]:
        with self.lock:
            return [(key[0], item) for key, item in self.objects.items()]


def _key(plural: str, item: dict) -> tuple[str, str, str]:
    return plural, item["metadata"]["namespace"], item["metadata"]["name"]


def condition(item: dict, type: str) -> dict:
    return find_condition((item.get("status") or {}).get("conditions"), type) or {}


def settled(plural: str, item: dict) -> bool:
    """The object's status describes its current spec and the operator has nothing left to do
    for it but wait (see the module docstring for what each kind settles at)."""
    status = item.get("status") or {}
    ready = condition(item, "Ready")
    # not Ready's own observedGeneration: a finished TrainingRun records a later spec in
    # status.observedGeneration but leaves its conditions as they were
    if status.get("observedGeneration") != item["metadata"]["generation"] or not ready:
        return False
    if plural == "datasets":
        return bool((status.get("ingest") or {}).get("finishedAt"))
    if plural == "trainingruns":
        return condition(item, "Succeeded").get("status") in ("True", "False")
    if plural == "modelversions":
        if item["spec"].get("serving", {}).get("enabled"):
            return status.get("stage") == "Production" and ready.get("status") == "True"
        return ready.get("status") == "True"
    return bool(ready)


def wait_until_settled(watcher: GenerationWatch, total: int, timeout: float, report_every: float = 30) -> float:
    """Seconds until every one of `total` objects is settled; raises after timeout."""
    started = time.monotonic()
    last_report = started
    while True:
        items = watcher.snapshot()
        done = sum(1 for plural, item in items if settled(plural, item))
        now = time.monotonic()
        expected = total - len(set(watcher.deleted))
        if done >= expected and len(items) >= expected:
            return now - started
        if now - started > timeout:
            by_kind = {p: sum(1 for q, i in items if q == p and not settled(q, i)) for p in PLURALS}
            raise TimeoutError(f"{total - done} objects not settled after {timeout:.0f}s: {by_kind}")
        if now - last_report >= report_every:
            print(f"  ... {done}/{total} settled after {now - started:.0f} s", flush=True)
            last_report = now
        time.sleep(1)


def _retrying(call, attempts: int = 8):
    """Retries conflicts, server-side throttling (counted by the API server anyway) and a
    connection the server dropped (other sessions' fault tests restart the control plane)."""
    for attempt in range(attempts):
        try:
            return call()
        except (ApiException, urllib3.exceptions.HTTPError) as error:
            retriable = not isinstance(error, ApiException) or error.status in (409, 429, 500, 503)
            if not retriable or attempt == attempts - 1:
                raise
            time.sleep(min(10.0, 0.5 * 2**attempt))


def _ignore_missing(call, problems: list[str]) -> None:
    try:
        call()
    except ApiException as error:
        if error.status != 404:
            problems.append(f"{error.status} {error.reason}")


def _stop_operator_of(work_dir: Path) -> None:
    """The operator a benchmark left running (--keep), found by the pid it recorded."""
    try:
        pid = int((work_dir / "operator.pid").read_text())
        if b"host_operator.py" in Path(f"/proc/{pid}/cmdline").read_bytes():
            os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError):
        pass


def add_fleet_arguments(parser) -> None:
    """The options every fleet benchmark takes (argparse)."""
    parser.add_argument("--per-kind", type=int, default=500)
    parser.add_argument("--namespaces", type=int, default=4)
    parser.add_argument("--fake-nodes", type=int, default=2)
    parser.add_argument("--settle-timeout", type=float, default=1200.0)
    parser.add_argument(
        "--operator-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra operator environment (repeatable; the chart's operator.extraEnv), e.g. to compare a setting",
    )
    parser.add_argument(
        "--host-process",
        action="store_true",
        help="run the operator on the host (host_operator.py, with its BENCH_* hooks) instead of the chart's pod",
    )
    parser.add_argument(
        "--image", help="the operator's image for the chart (default: the tests' own, built and pushed)"
    )
    parser.add_argument(
        "--workload-low",
        action="store_true",
        help="the operator's requests at APF level workload-low instead of the chart's own level",
    )
    parser.add_argument("--keep", action="store_true", help="leave the fleet in place (clean up by hand)")


def fleet_from(args) -> Fleet:
    """The fleet the options describe."""
    return Fleet(
        count_per_kind=args.per_kind,
        namespace_count=args.namespaces,
        fake_node_count=args.fake_nodes,
        chart_api_priority=not args.workload_low,
        host_process=args.host_process,
        image=args.image,
        operator_env=dict(item.split("=", 1) for item in args.operator_env),
    )


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f} (1/5/15 min, {os.cpu_count()} CPUs)"


if __name__ == "__main__":
    # python benchmarks/fleet.py cleanup <id>: remove a fleet left by --keep, operator included
    if len(sys.argv) == 3 and sys.argv[1] == "cleanup":
        print(Fleet(id=sys.argv[2]).cleanup() or "done")
    else:
        print("usage: fleet.py cleanup <id>", file=sys.stderr)
        sys.exit(2)
