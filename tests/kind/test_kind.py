"""Ballast on kind (tests/kind/kindcluster.py): the chart's operator, from Ballast's image loaded
into the node, takes an inline Dataset and a TrainingRun to a model in Production that answers an
inference request, on the `ballast-shared` store, with every pod as uid 65532; and a run that asks
for the Dask engine, which kind has not installed, ends EngineNotInstalled.

What it proves about kind: a Kubernetes cluster kind made (podman provider, node image built
here) runs Ballast as the Helm chart installs it, with the image reaching the node by `kind load`
and the store on a ReadWriteMany-like class whose one directory the host sees too. The cluster is
left running for the next run (`kindcluster.down()` removes it); the test's namespace, release
and CRD-adopted objects are removed.

    .venv/bin/python -m pytest tests/kind/test_kind.py
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from ballast.reasons.trainingrun import TrainingRunReason
from tests.kind import kindcluster
from tests.support.ballast_objects import condition, dataset, iris_rows, training_run, wait_for_condition
from tests.support.helm import Release, cluster_values
from tests.support.image import ballast_version
from tests.support.kube import REPO, Kubectl, install_crds, wait_for
from tests.support.traffic import infer, ready_endpoints

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
NONROOT_UID = "65532"
SYSCTLS = ("net/ipv4/ip_forward", "net/ipv4/conf/all/forwarding", "fs/file-max", "fs/nr_open", "kernel/pid_max")


def sysctls() -> dict[str, str]:
    return {name: Path("/proc/sys", name).read_text().strip() for name in SYSCTLS}


@pytest.fixture(scope="module")
def kind_cluster():
    """(kubeconfig, image reference pods use): the cluster up, Ballast's image built and loaded."""
    before = sysctls()
    started = time.monotonic()
    kubeconfig = kindcluster.up()
    subprocess.run(["bash", str(REPO / "scripts" / "image.sh"), "build"], check=True, stdout=sys.stderr)
    image = kindcluster.load_image(f"localhost/ballast:{ballast_version()}")
    print(f"kind cluster and image ready in {time.monotonic() - started:.0f}s: {image}", file=sys.stderr)
    yield kubeconfig, image
    assert sysctls() == before, "the host's sysctls changed"


@pytest.fixture
def kind_namespace(kind_cluster):
    """A namespace enforcing the "restricted" Pod Security Standard, as the suites' are."""
    kubeconfig, _ = kind_cluster
    kubectl = Kubectl(kubeconfig)
    name = f"kind-{uuid.uuid4().hex[:8]}"
    kubectl.run("create", "namespace", name)
    kubectl.run(
        "label",
        "namespace",
        name,
        "pod-security.kubernetes.io/enforce=restricted",
        "pod-security.kubernetes.io/enforce-version=latest",
    )
    wait_for(
        lambda: kubectl.run("get", "serviceaccount", "default", "-n", name, check=False).returncode == 0,
        timeout=30,
        message=f"default ServiceAccount in {name}",
    )
    yield name
    k = kubectl.in_namespace(name)
    for line in k.run("get", "ballast", "-o", "name", check=False).stdout.split():
        k.run("patch", line, "--type=merge", "-p", '{"metadata":{"finalizers":null}}', check=False)
    kubectl.run("delete", "namespace", name, "--wait=false", check=False)


def pod_of(k: Kubectl, selector: str) -> dict:
    def running():
        pods = [
            p
            for p in k.get_json("pods", "-l", selector)["items"]
            if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")
        ]
        return pods[0] if pods else None

    return wait_for(running, timeout=60, interval=1, message=f"a running pod for {selector}")


def assert_runs_loaded_image_as_nonroot(k: Kubectl, pod: dict, image: str) -> None:
    container = pod["spec"]["containers"][0]
    assert container["image"] == image
    status = next(s for s in pod["status"]["containerStatuses"] if s["name"] == container["name"])
    assert status["imageID"].endswith(image.split("@", 1)[1]), status["imageID"]
    uid = k.run("exec", pod["metadata"]["name"], "-c", container["name"], "--", "id", "-u").stdout.strip()
    assert uid == NONROOT_UID


def test_ballast_serves_a_model_on_kind(kind_cluster, kind_namespace):
    kubeconfig, image = kind_cluster
    namespace = kind_namespace
    kubectl = Kubectl(kubeconfig)
    k = kubectl.in_namespace(namespace)
    install_crds(kubectl)
    release = Release(f"kind-{uuid.uuid4().hex[:6]}", namespace, kubeconfig)
    values = cluster_values([namespace], image=image)  # the image loaded into kind's node
    assert values["store.claim.storageClassName"] == "ballast-shared"
    try:
        release.install(values, take_ownership=True)
        operator = pod_of(k, f"app.kubernetes.io/instance={release.name},app.kubernetes.io/component=operator")
        assert_runs_loaded_image_as_nonroot(k, operator, image)

        k.apply(dataset("iris", {"inline": {"rows": iris_rows()}}))
        ready = wait_for_condition(k, "dataset", "iris", "Ready", timeout=120)
        assert condition(ready, "Ready")["status"] == "True", condition(ready, "Ready")
        run = training_run("first", "iris", params={"max_iter": 300})
        run["spec"]["modelVersionTemplate"] = {"serving": {"replicas": 1}, "rollout": {"strategy": "Immediate"}}
        k.apply(run)
        trained = wait_for_condition(k, "trainingrun", "first", "Succeeded", timeout=180)
        assert condition(trained, "Succeeded")["status"] == "True", condition(trained, "Succeeded")
        name = trained["status"]["modelVersion"]
        version = wait_for(
            lambda: (lambda v: v if (v.get("status") or {}).get("stage") == "Production" else None)(
                k.get_json("modelversion", name)
            ),
            timeout=120,
            interval=1,
            message=f"{name} in Production",
        )

        # the artifact the training pod wrote is in the one shared directory, seen from the host
        artifact = version["spec"]["artifact"]["uri"].removeprefix("file:///var/lib/ballast/")
        assert (kindcluster.shared_store_dir() / artifact).is_file(), artifact

        # the host reaches the pod at its EndpointSlice address (the route via the node)
        endpoints = wait_for(lambda: ready_endpoints(k, "iris"), timeout=60, message="a ready endpoint for iris")
        rows = iris_rows()[::50]  # one of each species
        answer = infer(endpoints[0], "iris", FEATURES, rows, timeout=10)
        assert answer["model_name"] == "iris"
        predicted = next(o for o in answer["outputs"] if o["name"] == "predict")["data"]
        assert predicted == [row["species"] for row in rows]

        serving = pod_of(k, f"ballast.dev/model-version={name}")
        assert_runs_loaded_image_as_nonroot(k, serving, image)

        # no Dask operator here (nor its CRDs, which the local cluster's tests install): a run that
        # asks for Dask ends at once, saying so, and nothing is retried
        engine_run = training_run("on-dask", "iris", estimator="sklearn.linear_model.SGDClassifier")
        engine_run["spec"]["compute"] = {"engine": "dask", "workers": 2}
        k.apply(engine_run)
        stalled = wait_for_condition(k, "trainingrun", "on-dask", "Succeeded", timeout=60)
        refused = condition(stalled, "Succeeded")
        assert (refused["status"], refused["reason"]) == ("False", TrainingRunReason.ENGINE_NOT_INSTALLED), refused
        assert "daskjobs.kubernetes.dask.org" in refused["message"], refused
        assert condition(stalled, "Stalled")["status"] == "True"
    finally:
        if release.exists():
            release.helm("uninstall", release.name, "--wait", "--timeout=60s", check=False, timeout=90)
