"""The Dask engine on the test cluster: the dask-kubernetes operator installed with its own chart
(scripts/dask-operator.sh), and the DaskCluster and DaskJob objects the tests give it, whose
scheduler, worker and job pods run Ballast's image (its `dask` extra) under the Pod Security
Standard "restricted"."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.support.helm import helm_binary
from tests.support.kube import REPO, kubectl_binary

INSTALL_SCRIPT = REPO / "scripts" / "dask-operator.sh"
DASK_API = "kubernetes.dask.org/v1"
NONROOT_UID = 65532
SCHEDULER_PORT = 8786
DASHBOARD_PORT = 8787


@dataclass(frozen=True)
class DaskOperator:
    """The operator's release: the namespace it serves (its own) and the image it runs."""

    namespace: str
    image: str


def install_dask_operator(kubeconfig: Path, namespace: str) -> DaskOperator:
    """scripts/dask-operator.sh install: the operator's image built (or reused: podman's layer
    cache, keyed by engines/dask's lock) and pushed to the local registry by digest, the chart
    from its wheel installed into `namespace`, and its pod Ready."""
    sys.path.insert(0, str(REPO / "tests" / "cluster"))
    import localcluster

    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "HELM": helm_binary(), "KUBECTL": kubectl_binary()}
    installed = subprocess.run(
        ["bash", str(INSTALL_SCRIPT), "install", namespace, localcluster.registry_address()],
        env=env,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
        timeout=1800,
    )
    return DaskOperator(namespace=namespace, image=installed.stdout.strip().splitlines()[-1])


# --- the pods' specs: pure functions ------------------------------------------------------------


def restricted_container(name: str, image: str, command: list[str], **extra: object) -> dict:
    """A container the "restricted" standard admits, running `command` from `image` with a
    read-only root and a writable /tmp (HOME, and dask's temporary and scratch directory)."""
    return {
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": command,
        "env": [{"name": "HOME", "value": "/tmp"}, {"name": "DASK_TEMPORARY_DIRECTORY", "value": "/tmp"}],
        "securityContext": {
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        "resources": {"requests": {"cpu": "50m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
        **extra,
    }


def restricted_pod_spec(container: dict, **extra: object) -> dict:
    return {
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": NONROOT_UID,
            "runAsGroup": NONROOT_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}],
        **extra,
    }


def scheduler_spec(cluster: str, image: str) -> dict:
    """The scheduler's pod and Service. The Service is headless (clusterIP: None): its name
    resolves straight to the scheduler pod's address, where a ClusterIP needs kube-proxy (the
    local cluster has none) to route anywhere."""
    health = {"httpGet": {"port": "http-dashboard", "path": "/health"}, "periodSeconds": 5}
    container = restricted_container(
        "scheduler",
        image,
        ["dask", "scheduler"],
        ports=[
            {"name": "tcp-comm", "containerPort": SCHEDULER_PORT, "protocol": "TCP"},
            {"name": "http-dashboard", "containerPort": DASHBOARD_PORT, "protocol": "TCP"},
        ],
        readinessProbe=health,
        livenessProbe={**health, "initialDelaySeconds": 15, "periodSeconds": 20},
    )
    return {
        "spec": restricted_pod_spec(container),
        "service": {
            "type": "ClusterIP",
            "clusterIP": "None",
            "selector": {"dask.org/cluster-name": cluster, "dask.org/component": "scheduler"},
            "ports": [
                {"name": "tcp-comm", "protocol": "TCP", "port": SCHEDULER_PORT, "targetPort": "tcp-comm"},
                {"name": "http-dashboard", "protocol": "TCP", "port": DASHBOARD_PORT, "targetPort": "http-dashboard"},
            ],
        },
    }


def worker_spec(image: str, replicas: int) -> dict:
    """`replicas` workers of one thread each; the operator sets DASK_WORKER_NAME and
    DASK_SCHEDULER_ADDRESS (the scheduler Service's DNS name) in their environment."""
    container = restricted_container(
        "worker", image, ["dask", "worker", "--name", "$(DASK_WORKER_NAME)", "--nthreads", "1", "--no-dashboard"]
    )
    return {"replicas": replicas, "spec": restricted_pod_spec(container)}


def dask_cluster(name: str, image: str, *, workers: int) -> dict:
    return {
        "apiVersion": DASK_API,
        "kind": "DaskCluster",
        "metadata": {"name": name},
        "spec": {"scheduler": scheduler_spec(name, image), "worker": worker_spec(image, workers)},
    }


def dask_job(name: str, image: str, *, workers: int, script: str) -> dict:
    """A DaskJob: the operator makes a DaskCluster named after the job and then the runner pod,
    which runs `python -c script` with DASK_SCHEDULER_ADDRESS set to that cluster's scheduler."""
    runner = restricted_container("job", image, ["python", "-c", script])
    return {
        "apiVersion": DASK_API,
        "kind": "DaskJob",
        "metadata": {"name": name},
        "spec": {
            "job": {"spec": restricted_pod_spec(runner, restartPolicy="Never")},
            "cluster": {"spec": {"scheduler": scheduler_spec(name, image), "worker": worker_spec(image, workers)}},
        },
    }
