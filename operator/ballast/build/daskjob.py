"""The DaskJob that trains a run with spec.compute (engine dask): the dask-kubernetes operator
makes a DaskCluster of it (one scheduler, `compute.workers` workers) and then its runner pod,
`ballast train`, which drives the cluster through the snapshot's blocks
(ballast.runtime.train_blockwise) and writes the same result a training Job's pod writes.

Every pod is built from Ballast's own pod template (ballast.build.pods): Ballast's image, the
Pod Security Standard "restricted", a read-only root with the scratch directory for HOME and
Dask's temporary files. The scheduler never touches the store; the workers read parts of the
snapshot (read-only mount and the store's credentials); the runner writes the artifact."""

from __future__ import annotations

from typing import Any

from ballast.api.trainingrun import Compute
from ballast.build.jobs import training_env, training_labels
from ballast.build.naming import child_name
from ballast.build.pods import SCRATCH_DIR, ballast_container, owner_reference, pod_spec
from ballast.settings import Settings

DASK_GROUP = "kubernetes.dask.org"
DASK_VERSION = "v1"
DASK_JOBS = "daskjobs"
DASK_CRD = f"{DASK_JOBS}.{DASK_GROUP}"
CLUSTER_NAME_LABEL = "dask.org/cluster-name"
"""On every pod of a DaskJob's cluster, with the DaskJob's name (the operator names the cluster
after the job)."""
COMPONENT_LABEL = "dask.org/component"
RUNNER_COMPONENT = "job-runner"
"""The component label of the DaskJob's runner pod (named <job>-runner)."""
MEMORY_LIMIT_ENV = "BALLAST_WORKER_MEMORY_LIMIT"
"""The worker container's memory limit in bytes (Downward API), passed to `dask worker`."""
SCHEDULER_PORT = 8786
DASHBOARD_PORT = 8787
# The operator derives the scheduler Service (<name>-scheduler) and each worker's Deployment, pod
# hostname and Dask name (<name>-default-worker-<10 hex>) from the DaskJob's name: 63 - 26.
MAX_DASK_JOB_NAME = 37

DEFAULT_WORKER_RESOURCES: dict[str, Any] = {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "2Gi"}}
"""Each worker's resources when compute.workerResources is left out: a block of the default size
(100,000 rows) of a few dozen features fits several times over."""
SCHEDULER_RESOURCES: dict[str, Any] = {"requests": {"cpu": "50m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}
"""The scheduler only hands out tasks and holds their small results (statistics, the model)."""


def dask_job_name(run: str) -> str:
    return child_name(run, "dask", max_length=MAX_DASK_JOB_NAME)


def dask_env() -> list[dict[str, Any]]:
    """Dask writes its config and spill files under HOME and its temporary directory: on the
    scratch volume, as the root filesystem is read-only."""
    return [{"name": "HOME", "value": SCRATCH_DIR}, {"name": "DASK_TEMPORARY_DIRECTORY", "value": SCRATCH_DIR}]


def _dask_container(
    name: str, command: list[str], settings: Settings, namespace: str, **options: Any
) -> dict[str, Any]:
    container = ballast_container(name=name, args=[], env=dask_env(), settings=settings, namespace=namespace, **options)
    container["command"] = command
    return container


def scheduler_spec(cluster: str, settings: Settings, namespace: str) -> dict[str, Any]:
    """The scheduler's pod and Service. The Service is headless (clusterIP: None): its name
    resolves straight to the scheduler pod's address, where a ClusterIP needs kube-proxy to route
    anywhere (the local cluster has none; with one, headless works the same)."""
    health = {"httpGet": {"port": "http-dashboard", "path": "/health"}, "periodSeconds": 5}
    container = _dask_container(
        "scheduler", ["dask", "scheduler"], settings, namespace, with_store=False, resources=SCHEDULER_RESOURCES
    )
    container.update(
        ports=[
            {"name": "tcp-comm", "containerPort": SCHEDULER_PORT, "protocol": "TCP"},
            {"name": "http-dashboard", "containerPort": DASHBOARD_PORT, "protocol": "TCP"},
        ],
        readinessProbe=health,
        livenessProbe={**health, "initialDelaySeconds": 15, "periodSeconds": 20},
    )
    return {
        "spec": pod_spec([container], settings, restart_policy="Always", with_store=False),
        "service": {
            "type": "ClusterIP",
            "clusterIP": "None",
            "selector": {CLUSTER_NAME_LABEL: cluster, COMPONENT_LABEL: "scheduler"},
            "ports": [
                {"name": "tcp-comm", "protocol": "TCP", "port": SCHEDULER_PORT, "targetPort": "tcp-comm"},
                {"name": "http-dashboard", "protocol": "TCP", "port": DASHBOARD_PORT, "targetPort": "http-dashboard"},
            ],
        },
    }


def worker_spec(
    replicas: int, settings: Settings, namespace: str, *, resources: dict[str, Any] | None = None
) -> dict[str, Any]:
    """`replicas` workers of one thread each (a block is one task; more threads would hold more
    blocks in one pod's memory); the operator sets DASK_WORKER_NAME and DASK_SCHEDULER_ADDRESS.
    They read the snapshot's parts: the store mounted read-only, and its credentials.

    Dask's memory limit is the container's, given explicitly: left to itself ("auto") Dask takes
    the cgroup's limit times threads over the node's cores, so one thread on a 2-core node gets
    half the pod's memory and its nanny restarts the worker at 95% of that half."""
    command = ["dask", "worker", "--name", "$(DASK_WORKER_NAME)", "--nthreads", "1", "--no-dashboard"]
    container = _dask_container(
        "worker",
        [*command, "--memory-limit", f"$({MEMORY_LIMIT_ENV})"],
        settings,
        namespace,
        read_only_store=True,
        resources=resources or DEFAULT_WORKER_RESOURCES,
    )
    # without a limit, the Downward API gives the node's allocatable memory: Dask's limit then too
    memory_limit = {"resourceFieldRef": {"containerName": "worker", "resource": "limits.memory"}}
    container["env"].append({"name": MEMORY_LIMIT_ENV, "valueFrom": memory_limit})
    return {"replicas": replicas, "spec": pod_spec([container], settings, restart_policy="Always")}


def runner_pod_spec(container: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The runner runs once: a pod of the DaskJob, not a Job, so nothing retries it."""
    return pod_spec([container], settings, restart_policy="Never")


def build_dask_job(run: dict[str, Any], *, inputs: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """inputs: the run's inputs document, as a training Job's pod gets it. The labels are the
    training Job's: the Dask operator copies them onto the cluster's pods, which Ballast's
    indexes then see (handlers/indexes.py)."""
    namespace = run["metadata"]["namespace"]
    name = dask_job_name(run["metadata"]["name"])
    compute = Compute.model_validate(run["spec"]["compute"])
    worker_resources = run["spec"]["compute"].get("workerResources")  # as written: quantities stay strings
    runner = ballast_container(
        name="train",
        args=["train"],
        env=[*training_env(run, inputs, settings), *dask_env()],
        settings=settings,
        namespace=namespace,
        resources=run["spec"].get("resources"),
    )
    return {
        "apiVersion": f"{DASK_GROUP}/{DASK_VERSION}",
        "kind": "DaskJob",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": training_labels(run),
            "ownerReferences": [owner_reference(run)],
        },
        "spec": {
            "job": {"spec": runner_pod_spec(runner, settings)},
            "cluster": {
                "spec": {
                    "scheduler": scheduler_spec(name, settings, namespace),
                    "worker": worker_spec(compute.workers, settings, namespace, resources=worker_resources),
                }
            },
        },
    }
