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

from ballast.build.daskjob import (
    DASK_GROUP,
    DASK_VERSION,
    dask_env,
    dask_job_name,
    runner_pod_spec,
    scheduler_spec,
    worker_spec,
)
from ballast.build.pods import ballast_container
from ballast.settings import Settings
from tests.support.helm import helm_binary
from tests.support.kube import REPO, Kubectl, kubectl_binary, wait_for

INSTALL_SCRIPT = REPO / "scripts" / "dask-operator.sh"
DASK_API = f"{DASK_GROUP}/{DASK_VERSION}"
NO_NAMESPACE = "unused"
"""The namespace Ballast's builders put in a store's address: these pods have no store to use
(pod_settings), so it names nothing."""


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


# --- the objects the tests give the operator, from Ballast's own builders ----------------------


def pod_settings(image: str) -> Settings:
    """Ballast's pod settings with the tests' image and no store: these pods compute, and read nothing."""
    return Settings(image=image, store_uri="s3://unused")


def dask_cluster(name: str, image: str, *, workers: int) -> dict:
    settings = pod_settings(image)
    return {
        "apiVersion": DASK_API,
        "kind": "DaskCluster",
        "metadata": {"name": name},
        "spec": {
            "scheduler": scheduler_spec(name, settings, NO_NAMESPACE),
            "worker": worker_spec(workers, settings, NO_NAMESPACE),
        },
    }


def dask_job(name: str, image: str, *, workers: int, script: str) -> dict:
    """A DaskJob: the operator makes a DaskCluster named after the job and then the runner pod,
    which runs `python -c script` with DASK_SCHEDULER_ADDRESS set to that cluster's scheduler."""
    settings = pod_settings(image)
    runner = ballast_container(
        name="job", args=["-c", script], env=dask_env(), settings=settings, namespace=NO_NAMESPACE
    )
    runner["command"] = ["python"]
    return {
        "apiVersion": DASK_API,
        "kind": "DaskJob",
        "metadata": {"name": name},
        "spec": {
            "job": {"spec": runner_pod_spec(runner, settings)},
            "cluster": {
                "spec": {
                    "scheduler": scheduler_spec(name, settings, NO_NAMESPACE),
                    "worker": worker_spec(workers, settings, NO_NAMESPACE),
                }
            },
        },
    }


def delete_run_and_its_dask_job(k: Kubectl, run: str) -> None:
    """The DaskJob goes with its run (owner reference) while the Dask operator still runs to
    remove its finalizer: deleted with the namespace, the operator may be gone first."""
    k.run("delete", "trainingrun", run, "--wait=false", check=False)
    wait_for(
        lambda: k.run("get", "daskjob", dask_job_name(run), check=False).returncode != 0,
        timeout=120,
        message="the run's DaskJob deleted with it",
    )
