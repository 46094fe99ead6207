"""How long a Ballast serving pod takes to start on the cluster's node: created -> scheduled ->
Running -> Ready. Prints its figures; it asserts nothing.

    .venv/bin/python benchmarks/pod_start.py [--pods 10]

The pods are the ones a served ModelVersion gets (ballast.build.serving, Ballast's image, the
restricted profile, the artifact store's claim), for a model trained once by the operator
beforehand; each is created alone and deleted before the next. Edges are taken when this
process first sees them in a watch event. On the local cluster (the default) the node is a
kubelet on containerd; with KUBECONFIG set, that cluster's nodes, and BALLAST_IMAGE the image.

  schedule   pod created -> bound to a node (the scheduler)
  start      bound -> container running (the kubelet: sandbox, network, volumes, container start)
  ready      running -> Ready (the server loads and warms the model; the readiness probe passes)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

from kubernetes import client, config, watch

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "cluster")]

from tests.support.ballast_objects import condition, dataset, iris_rows, training_run  # noqa: E402
from tests.support.image import ballast_image  # noqa: E402
from tests.support.kube import Kubectl, install_crds, shared_store_dir, wait_for  # noqa: E402
from tests.support.operator_process import TEST_SETTINGS, OperatorProcess  # noqa: E402

import figures  # noqa: E402
from ballast.build.serving import build_serving_deployment  # noqa: E402
from ballast.settings import Settings  # noqa: E402

PHASES = (("schedule", "created", "bound"), ("start", "bound", "running"), ("ready", "running", "ready"))


def kubeconfig() -> Path:
    if os.environ.get("KUBECONFIG"):
        return Path(os.environ["KUBECONFIG"])
    import localcluster

    return Path(localcluster.up())


def registered_model(kubeconfig_file: Path, k: Kubectl) -> dict:
    """A ModelVersion trained and registered by the operator: its artifact and metadata are in the store."""
    log = Path(f"/tmp/{k.namespace}-operator.log")
    with OperatorProcess(kubeconfig_file, log, store_dir=shared_store_dir(), namespaces=(k.namespace,)):
        k.apply(dataset("iris", {"inline": {"rows": iris_rows()}}))
        k.apply(training_run("start", "iris", model="start"))

        def registered():
            run = k.get_json("trainingrun", "start")
            if condition(run, "Succeeded").get("status") == "False":
                raise RuntimeError(f"training failed: {condition(run, 'Succeeded')}")
            name = (run.get("status") or {}).get("modelVersion")
            version = k.get_json("modelversion", name) if name else None
            return version if version and condition(version, "Ready").get("status") == "True" else None

        return wait_for(registered, timeout=300, interval=1, message="a registered ModelVersion")


def serving_deployment(version: dict, index: int, settings: Settings) -> dict:
    """The Deployment Ballast would give the version, under a name of its own and owned by nobody,
    so no operator mistakes it for one of its children."""
    named = {**version, "metadata": {**version["metadata"], "name": f"{version['metadata']['name']}-{index}"}}
    deployment = build_serving_deployment(named, replicas=1, settings=settings)
    deployment["metadata"].pop("ownerReferences")
    return deployment


def measure_one(api, k: Kubectl, deployment: dict) -> dict[str, float]:
    marks: dict[str, float] = {}
    name = deployment["metadata"]["name"]
    selector = ",".join(f"{key}={value}" for key, value in deployment["spec"]["selector"]["matchLabels"].items())
    stop = threading.Event()

    def follow() -> None:
        stream = watch.Watch()
        for event in stream.stream(
            client.CoreV1Api(api).list_namespaced_pod,
            namespace=k.namespace,
            label_selector=selector,
            timeout_seconds=300,
        ):
            pod = api.sanitize_for_serialization(event["object"])
            now = time.monotonic()
            marks.setdefault("created", now)
            if pod["spec"].get("nodeName"):
                marks.setdefault("bound", now)
            state = ((pod.get("status") or {}).get("containerStatuses") or [{}])[0].get("state") or {}
            if "running" in state:
                marks.setdefault("running", now)
            if condition(pod, "Ready").get("status") == "True":
                marks.setdefault("ready", now)
            if stop.is_set() or "ready" in marks:
                stream.stop()

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    time.sleep(0.5)  # the watch is open before the pod exists
    k.apply(deployment)
    wait_for(lambda: "ready" in marks, timeout=300, interval=0.05, message=f"{name} ready")
    stop.set()
    k.run("delete", "deployment", name, "--wait=true")
    wait_for(lambda: not k.get_json("pods", "-l", selector)["items"], timeout=120, message=f"{name}'s pod gone")
    return {phase: marks[end] - marks[start] for phase, start, end in PHASES} | {
        "created -> Running": marks["running"] - marks["created"],
        "created -> Ready": marks["ready"] - marks["created"],
    }


FIGURES = figures.Section("pod_start", figures.BENCHMARKS_DOC)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=10)
    figures.add_update_option(parser, FIGURES)
    return parser


def run(args: argparse.Namespace) -> int:
    kubeconfig_file = kubeconfig()
    kubectl = Kubectl(kubeconfig_file)
    install_crds(kubectl)
    namespace = f"podstart-{uuid.uuid4().hex[:6]}"
    kubectl.run("create", "namespace", namespace)
    kubectl.run("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    k = kubectl.in_namespace(namespace)
    image = ballast_image()
    settings = Settings.from_env({**TEST_SETTINGS, "BALLAST_IMAGE": image})
    try:
        version = registered_model(kubeconfig_file, k)
        api = config.new_client_from_config(config_file=str(kubeconfig_file))
        node = kubectl.get_json("nodes")["items"][0]["status"]["nodeInfo"]
        results = [measure_one(api, k, serving_deployment(version, i, settings)) for i in range(args.pods)]
    finally:
        kubectl.run("delete", "namespace", namespace, "--wait=false", check=False)
    print(f"Ballast serving pod start, {args.pods} pods one after another, image {image}")
    print(
        f"node: kubelet {node['kubeletVersion']}, runtime {node['containerRuntimeVersion'] or '-'}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(f"{'phase':<22}{'median s':>10}{'min s':>10}{'max s':>10}")
    for phase in results[0]:
        values = [r[phase] for r in results]
        print(f"{phase:<22}{statistics.median(values):>10.2f}{min(values):>10.2f}{max(values):>10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(figures.run_benchmark(FIGURES, build_parser(), run))
