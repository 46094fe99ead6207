"""What the operator made in a namespace: the children there now and who owns them, and,
from watches, every child that ever existed there, so that a Job deleted and created again
counts twice."""

from __future__ import annotations

import threading
from collections import defaultdict

from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from ballast.api.kinds import GROUP, VERSION
from tests.faults.environment import BALLAST_RESOURCES
from tests.support.kube import Kubectl

CHILD_KINDS = "jobs.batch,deployments.apps,replicasets.apps,pods,services,persistentvolumeclaims"
# Ballast objects that own nothing by design: registry entries outlive the runs that made
# them, and the store's claim outlives every object of its namespace.
UNOWNED_BY_DESIGN = {"ModelVersion", "PersistentVolumeClaim"}


def inventory(k: Kubectl) -> list[dict]:
    return k.get_json(f"{BALLAST_RESOURCES},{CHILD_KINDS}")["items"]


def children_by_kind(k: Kubectl) -> dict[str, list[str]]:
    """The names of every Job, Deployment, Service, claim and ModelVersion, by kind, sorted."""
    found: dict[str, list[str]] = defaultdict(list)
    for item in k.get_json("modelversions.ballast.dev,jobs.batch,deployments.apps,services,persistentvolumeclaims")[
        "items"
    ]:
        found[item["kind"]].append(item["metadata"]["name"])
    return {kind: sorted(names) for kind, names in found.items()}


def orphans(items: list[dict]) -> list[str]:
    """Children whose owner is gone, and Ballast-made objects that no owner holds."""
    live = {item["metadata"]["uid"] for item in items}
    problems = []
    for item in items:
        meta, kind = item["metadata"], item["kind"]
        references = meta.get("ownerReferences") or []
        for reference in references:
            if reference["uid"] not in live:
                problems.append(
                    f"{kind}/{meta['name']} is owned by {reference['kind']}/{reference['name']}, which is gone"
                )
        managed = (meta.get("labels") or {}).get("app.kubernetes.io/managed-by") == "ballast"
        if managed and not references and kind not in UNOWNED_BY_DESIGN:
            problems.append(f"{kind}/{meta['name']} is Ballast's but has no owner")
    return problems


def replica_sets_per_deployment(items: list[dict]) -> dict[str, int]:
    """More than one means the Deployment's pod template changed: churn, not convergence."""
    counts = {item["metadata"]["name"]: 0 for item in items if item["kind"] == "Deployment"}
    for item in items:
        for reference in item["metadata"].get("ownerReferences") or []:
            if item["kind"] == "ReplicaSet" and reference["kind"] == "Deployment":
                counts[reference["name"]] = counts.get(reference["name"], 0) + 1
    return counts


class CreationRecorder:
    """Watches Jobs, Deployments and ModelVersions in one namespace and keeps every uid seen
    under each name. Use as a context manager around the run being observed."""

    def __init__(self, api: client.ApiClient, namespace: str):
        self.namespace = namespace
        self.uids: dict[tuple[str, str], set[str]] = defaultdict(set)
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        custom = client.CustomObjectsApi(api)
        self._sources = {
            "Job": (client.BatchV1Api(api).list_namespaced_job, (namespace,)),
            "Deployment": (client.AppsV1Api(api).list_namespaced_deployment, (namespace,)),
            "ModelVersion": (custom.list_namespaced_custom_object, (GROUP, VERSION, namespace, "modelversions")),
        }
        self._threads = [
            threading.Thread(target=self._watch, args=(kind,), daemon=True, name=f"record-{kind}")
            for kind in self._sources
        ]

    def __enter__(self) -> CreationRecorder:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)

    def _record(self, kind: str, obj) -> None:
        meta = obj["metadata"] if isinstance(obj, dict) else obj.metadata
        name, uid = (meta["name"], meta["uid"]) if isinstance(meta, dict) else (meta.name, meta.uid)
        with self._lock:
            self.uids[(kind, name)].add(uid)

    def _watch(self, kind: str) -> None:
        function, args = self._sources[kind]
        resource_version = None
        while not self._stop.is_set():
            watcher = watch.Watch()
            try:
                options = {"timeout_seconds": 2}
                if resource_version:
                    options["resource_version"] = resource_version
                for event in watcher.stream(function, *args, **options):
                    if event["type"] in ("ADDED", "MODIFIED", "DELETED"):
                        self._record(kind, event["object"])
                    if self._stop.is_set():
                        break
                resource_version = watcher.resource_version
            except ApiException as error:
                if error.status != 410:
                    self.errors.append(f"{kind}: {error.status} {error.reason}")
                resource_version = None  # expired: list again, which replays every object
            except Exception as error:  # noqa: BLE001 - a broken connection: list again
                self.errors.append(f"{kind}: {error!r}")
                resource_version = None
            finally:
                watcher.stop()

    def created_more_than_once(self) -> dict[str, int]:
        with self._lock:
            return {f"{kind}/{name}": len(uids) for (kind, name), uids in self.uids.items() if len(uids) > 1}

    def names(self, kind: str) -> set[str]:
        with self._lock:
            return {name for (recorded, name) in self.uids if recorded == kind}
