"""Ballast's own image, run by a real kubelet and containerd: every ingest, training and serving
pod runs the digest that was pushed, as uid 65532 on a read-only root filesystem, and a training
pod over its memory limit is OOM-killed by the runtime and named so in its TrainingRun.

The image is tests/support/image.py's: built from operator/Dockerfile on this machine and pushed
to the local cluster's registry (or $BALLAST_IMAGE on another cluster)."""

from __future__ import annotations

import threading

import pytest

from tests.support.ballast_objects import condition, dataset, iris_rows, training_run, wait_for_condition
from tests.support.image import ballast_image, image_digest
from tests.support.kube import Kubectl, wait_for
from tests.support.traffic import infer, ready_endpoints

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
COMPONENTS = ("ingest", "training", "serving")


@pytest.fixture
def k(kubectl: Kubectl, namespace: str, ballast_operator) -> Kubectl:
    return kubectl.in_namespace(namespace)


class ImageIdsSeen:
    """The imageID of every Ballast container seen running, by component: ingest and training
    pods are gone once their Job is, so they are watched while they live."""

    def __init__(self, k: Kubectl):
        self.k, self.seen = k, {component: set() for component in COMPONENTS}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.wait(0.3):
            try:
                pods = self.k.get_json("pods", "-l", "app.kubernetes.io/name=ballast")["items"]
            except AssertionError:  # kubectl failed once; the next poll tells
                continue
            for pod in pods:
                component = pod["metadata"]["labels"].get("app.kubernetes.io/component")
                for status in pod["status"].get("containerStatuses") or []:
                    if component in self.seen and status.get("imageID"):
                        self.seen[component].add(status["imageID"])

    def __enter__(self) -> ImageIdsSeen:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def exec_in(k: Kubectl, pod: str, *command: str):
    return k.run("exec", pod, "--", *command, check=False)


def test_every_ballast_pod_runs_the_pushed_digest_as_65532_on_a_read_only_root(k: Kubectl):
    digest = image_digest(ballast_image())
    run = training_run("served", "iris")
    run["spec"]["modelVersionTemplate"] = {"serving": {"replicas": 1}, "rollout": {"strategy": "Immediate"}}
    with ImageIdsSeen(k) as images:
        k.apply(dataset("iris", {"inline": {"rows": iris_rows()}}))
        assert condition(wait_for_condition(k, "dataset", "iris", "Ready"), "Ready")["status"] == "True"
        k.apply(run)
        trained = wait_for_condition(k, "trainingrun", "served", "Succeeded")
        assert condition(trained, "Succeeded")["status"] == "True", condition(trained, "Succeeded")
        endpoint = wait_for(lambda: ready_endpoints(k, "iris"), timeout=120, message="a ready endpoint")[0]
    for component in COMPONENTS:
        assert images.seen[component], f"no running {component} pod was seen"
    [image_id] = set().union(*images.seen.values())  # one image for every role
    if digest:  # the local registry's push (on kind, an image loaded by tag has no repository digest)
        assert image_id.endswith(digest), (image_id, digest)

    answer = infer(endpoint, "iris", FEATURES, iris_rows()[:2])
    assert answer["model_name"] == "iris"
    name = next(
        pod["metadata"]["name"]
        for pod in k.get_json("pods", "-l", "app.kubernetes.io/component=serving")["items"]
        if pod["status"].get("podIP") == endpoint.split(":")[0]
    )
    assert exec_in(k, name, "id", "-u").stdout.strip() == "65532"
    # the image's own files, and /tmp, are on the read-only root; only the declared scratch volume is writable
    for path in ("/opt/ballast/planted", "/tmp/planted"):
        written = exec_in(k, name, "sh", "-c", f"echo x > {path}")
        assert written.returncode != 0 and "Read-only file system" in written.stderr, (path, written.stderr)
    assert exec_in(k, name, "sh", "-c", 'echo x > "$TMPDIR/scratch" && cat "$TMPDIR/scratch"').stdout.strip() == "x"
    assert exec_in(k, name, "sh", "-c", "grep -E '^CapEff' /proc/self/status").stdout.split()[-1] == "0" * 16


def test_a_training_pod_over_its_memory_limit_is_oom_killed_and_the_run_says_out_of_memory(k: Kubectl):
    k.apply(dataset("iris", {"inline": {"rows": iris_rows()}}))
    assert condition(wait_for_condition(k, "dataset", "iris", "Ready"), "Ready")["status"] == "True"
    run = training_run("greedy", "iris")
    # Python with scikit-learn imported needs far more than this: the kernel kills the trainer
    run["spec"]["resources"] = {"requests": {"memory": "48Mi"}, "limits": {"memory": "48Mi"}}
    k.apply(run)
    failed = condition(wait_for_condition(k, "trainingrun", "greedy", "Succeeded"), "Succeeded")
    assert (failed["status"], failed["reason"]) == ("False", "OutOfMemory"), failed
    assert "48Mi" in failed["message"]
    [pod] = k.get_json("pods", "-l", "batch.kubernetes.io/job-name=greedy-train")["items"]
    [container] = pod["status"]["containerStatuses"]
    assert container["state"]["terminated"]["reason"] == "OOMKilled"
    assert container["state"]["terminated"]["exitCode"] == 137
