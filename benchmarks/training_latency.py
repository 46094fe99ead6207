"""From TrainingRun created to ModelVersion Ready on the local cluster, split into phases,
beside the bare fit time. Prints its figures; it asserts nothing.

    .venv/bin/python benchmarks/training_latency.py [--runs 5]

Phases, each edge taken when this process first sees it in a watch event:
  operator   TrainingRun created -> its Job exists
  schedule   Job exists -> pod bound to the node
  pod start  pod bound -> container running (the kubelet: sandbox, CNI, container start)
  train      container running -> container terminated (Python start-up, reading the snapshot,
             fit, metrics, skops, writing the artifact); `fit` is the bare estimator fit inside it
  record     container terminated -> TrainingRun Succeeded (the operator's poll + status write)
  register   TrainingRun Succeeded -> ModelVersion Ready (verification of the artifact)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

from kubernetes import client, config, watch

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "cluster")]

import localcluster  # noqa: E402
from tests.support.ballast_objects import condition, dataset, iris_rows, training_run  # noqa: E402
from tests.support.kube import Kubectl, install_crds, shared_store_dir, wait_for  # noqa: E402
from tests.support.operator_process import TEST_SETTINGS, OperatorProcess  # noqa: E402

import figures  # noqa: E402

PHASES = ("operator", "schedule", "pod start", "train", "record", "register")


class Watcher:
    """Records when each edge is first seen, from watch events (not polling), in one thread
    per resource."""

    def __init__(self, api, namespace: str, run_name: str):
        self.marks: dict[str, float] = {}
        self._api, self._namespace, self._run = api, namespace, run_name
        self._stop = threading.Event()
        selector = f"app.kubernetes.io/instance={run_name}"
        core, batch = client.CoreV1Api(api), client.BatchV1Api(api)
        custom = client.CustomObjectsApi(api)
        self._threads = [
            threading.Thread(
                target=self._watch,
                args=(batch.list_namespaced_job, self._on_job),
                kwargs={"label_selector": selector},
                daemon=True,
            ),
            threading.Thread(
                target=self._watch,
                args=(core.list_namespaced_pod, self._on_pod),
                kwargs={"label_selector": selector},
                daemon=True,
            ),
            threading.Thread(
                target=self._watch,
                args=(custom.list_namespaced_custom_object, self._on_run),
                kwargs={"group": "ballast.dev", "version": "v1alpha1", "plural": "trainingruns"},
                daemon=True,
            ),
            threading.Thread(
                target=self._watch,
                args=(custom.list_namespaced_custom_object, self._on_version),
                kwargs={"group": "ballast.dev", "version": "v1alpha1", "plural": "modelversions"},
                daemon=True,
            ),
        ]
        self.version_name: str | None = None

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def _mark(self, name: str) -> None:
        self.marks.setdefault(name, time.monotonic())

    def _watch(self, list_fn, handler, **kwargs) -> None:
        stream = watch.Watch()
        for event in stream.stream(list_fn, namespace=self._namespace, timeout_seconds=300, **kwargs):
            obj = event["object"]
            handler(obj if isinstance(obj, dict) else self._api.sanitize_for_serialization(obj))
            if self._stop.is_set():
                stream.stop()

    def _on_job(self, job: dict) -> None:
        self._mark("job")

    def _on_pod(self, pod: dict) -> None:
        if pod["spec"].get("nodeName"):
            self._mark("bound")
        state = ((pod.get("status") or {}).get("containerStatuses") or [{}])[0].get("state") or {}
        if "running" in state or "terminated" in state:
            self._mark("running")
        if "terminated" in state:
            self._mark("terminated")

    def _on_run(self, run: dict) -> None:
        if run["metadata"]["name"] == self._run and condition(run, "Succeeded").get("status") == "True":
            self.version_name = run["status"]["modelVersion"]
            self._mark("succeeded")

    def _on_version(self, version: dict) -> None:
        if (
            self.version_name
            and version["metadata"]["name"] == self.version_name
            and condition(version, "Ready").get("status") == "True"
        ):
            self._mark("ready")

    def stop(self) -> None:
        self._stop.set()


def measure_one(api, k: Kubectl, run_name: str) -> dict[str, float]:
    watcher = Watcher(api, k.namespace, run_name)
    watcher.start()
    time.sleep(0.5)  # let the watches open before the run exists
    watcher.marks["created"] = time.monotonic()
    k.apply(
        training_run(
            run_name,
            "iris",
            estimator="sklearn.linear_model.LogisticRegression",
            params={"max_iter": 300},
            seed=int(time.time()) % 1000,
        )
    )
    order = ["created", "job", "bound", "running", "terminated", "succeeded", "ready"]
    wait_for(
        lambda: "ready" in watcher.marks or ("succeeded" in watcher.marks and _version_ready(k, watcher)),
        timeout=300,
        interval=0.05,
        message=f"{run_name} to be registered",
    )
    watcher.stop()
    marks = watcher.marks
    missing = [m for m in order if m not in marks]
    if missing:
        raise RuntimeError(f"{run_name}: never saw {missing}")
    durations = {phase: marks[b] - marks[a] for phase, a, b in zip(PHASES, order, order[1:])}
    durations["total"] = marks["ready"] - marks["created"]
    return durations


def _version_ready(k: Kubectl, watcher: Watcher) -> bool:
    """The ModelVersion may have been Ready before the run said Succeeded (it was registered
    by an earlier run with the same artifact): then Ready is when Succeeded was seen."""
    version = k.get_json("modelversion", watcher.version_name)
    if condition(version, "Ready").get("status") == "True":
        watcher.marks.setdefault("ready", time.monotonic())
        return True
    return False


FIGURES = figures.Section("training_latency", figures.BENCHMARKS_DOC)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    figures.add_update_option(parser, FIGURES)
    return parser


def run(args: argparse.Namespace) -> int:
    kubeconfig = Path(localcluster.up())
    kubectl = Kubectl(kubeconfig)
    install_crds(kubectl)
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    kubectl.run("create", "namespace", namespace)
    k = kubectl.in_namespace(namespace)
    log = Path(f"/tmp/{namespace}-operator.log")
    try:
        with OperatorProcess(kubeconfig, log, store_dir=shared_store_dir(), namespaces=(namespace,)):
            k.apply(dataset("iris", {"inline": {"rows": iris_rows()}}))
            wait_for(
                lambda: condition(k.get_json("dataset", "iris"), "Ready").get("status") == "True",
                timeout=120,
                message="the iris Dataset",
            )
            api = config.new_client_from_config(config_file=str(kubeconfig))
            results = [measure_one(api, k, f"latency-{i}") for i in range(args.runs)]
    finally:
        kubectl.run("delete", "namespace", namespace, "--wait=false", check=False)
    print(
        f"TrainingRun created -> ModelVersion Ready, {args.runs} runs of LogisticRegression on iris "
        f"(operator poll interval {TEST_SETTINGS['BALLAST_POLL_INTERVAL_SECONDS']} s)"
    )
    print(f"{'phase':<12}{'median s':>10}{'min s':>10}{'max s':>10}")
    for phase in (*PHASES, "total"):
        values = [r[phase] for r in results]
        print(f"{phase:<12}{statistics.median(values):>10.2f}{min(values):>10.2f}{max(values):>10.2f}")
    fit = statistics.median(measure_fit_only())
    print(f"{'bare fit':<12}{fit:>10.3f}   (same estimator and data, in this process)")
    return 0


def measure_fit_only() -> list[float]:
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    frame = pd.DataFrame(iris_rows())
    features, target = frame.drop(columns="species"), frame["species"]
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        LogisticRegression(max_iter=300).fit(features, target)
        timings.append(time.perf_counter() - started)
    return timings


if __name__ == "__main__":
    sys.exit(figures.run_benchmark(FIGURES, build_parser(), run))
