"""A TrainingRun with spec.compute on the real cluster: Ballast creates the run's DaskJob, the Dask
operator (the dask_operator fixture; it serves only its own namespace, which the session's Ballast
operator also watches) makes its scheduler, two workers and runner from Ballast's image under the
Pod Security Standard "restricted", the runner trains blockwise on a partitioned snapshot on the
workers, and the run registers a ModelVersion as a single-pod run does.

EngineNotInstalled (no kubernetes.dask.org CRD) cannot be shown here, where the CRDs are
cluster-wide once any test installs the operator: tests/kind/test_kind.py shows it on kind, and
tests/unit/test_kube_engine_objects.py and tests/unit/test_handlers_apply.py cover the API
server's 404 and the condition it becomes."""

from __future__ import annotations

import pytest

from tests.integration.test_partitioned_dataset import iris_parts_on_claim
from tests.integration.test_training import _valid_version
from tests.support.ballast_objects import condition, training_run, wait_for_condition
from tests.support.dask_engine import delete_run_and_its_dask_job
from tests.support.kube import Kubectl, wait_for

# iris, 20 times over (3,000 rows) with a little noise, in three files: three blocks of 1,000 rows
SPLIT_INTO_PARTS = """
import os, random
lines = open('/in/iris.csv').read().splitlines()
header, rows = lines[0], lines[1:]
random.seed(3)
out = []
for _ in range(20):
    for row in rows:
        *features, species = row.split(',')
        out.append(','.join([*(f'{float(v) + random.uniform(-0.05, 0.05):.3f}' for v in features), species]))
for path, chunk in (('day=1/a.csv', out[:1200]), ('day=2/b.csv', out[1200:2100]), ('day=3/c.csv', out[2100:])):
    target = os.path.join('/out/iris-parts', path)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, 'w') as handle:
        handle.write('\\n'.join([header, *chunk]) + '\\n')
"""


@pytest.fixture
def k(kubectl: Kubectl, ballast_operator, dask_operator) -> Kubectl:
    """kubectl in the Dask operator's namespace (the one it serves), which Ballast watches too."""
    return kubectl.in_namespace(dask_operator.namespace)


def test_a_run_with_dask_compute_trains_blockwise_on_the_workers_and_registers_a_model(k: Kubectl):
    k.apply(iris_parts_on_claim(k, SPLIT_INTO_PARTS))
    version = _valid_version(k, "iris-parts")["status"]["versions"][0]
    assert version["rows"] == 3000

    run = training_run(
        "iris-dask", "iris-parts", estimator="sklearn.linear_model.SGDClassifier", params={"alpha": 0.001}
    )
    run["spec"]["compute"] = {"engine": "dask", "workers": 2, "blockRows": 1000, "epochs": 3}
    run["spec"]["activeDeadlineSeconds"] = 900
    k.apply(run)
    try:
        _trains_and_registers(k)
    finally:
        delete_run_and_its_dask_job(k, "iris-dask")


def _trains_and_registers(k: Kubectl) -> None:

    # the DaskJob, owned by the run, and the pods the Dask operator made of it
    dask_job = wait_for(
        lambda: (
            k.run("get", "daskjob", "iris-dask-dask", "-o", "json", check=False).returncode == 0
            and k.get_json("daskjob", "iris-dask-dask")
        ),
        timeout=60,
        message="the run's DaskJob",
    )
    uid = k.get_json("trainingrun", "iris-dask")["metadata"]["uid"]
    [owner] = dask_job["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["uid"], owner["controller"]) == ("TrainingRun", uid, True)

    done = wait_for_condition(k, "trainingrun", "iris-dask", "Succeeded", timeout=900)
    pods = k.get_json("pods", "--selector", "dask.org/cluster-name=iris-dask-dask")["items"]
    log = k.run("logs", "iris-dask-dask-runner", check=False)
    succeeded = condition(done, "Succeeded")
    assert (succeeded["status"], succeeded["reason"]) == ("True", "Trained"), (
        f"{succeeded}\nrunner log:\n{log.stdout}{log.stderr}\npods: {[p['metadata']['name'] for p in pods]}"
    )
    status = done["status"]
    assert status["jobName"] == "iris-dask-dask"
    assert status["reproducibility"]["blockwise"] == {"blockRows": 1000, "epochs": 3}
    assert status["metrics"]["accuracy"] >= 0.7
    model_version = k.get_json("modelversion", status["modelVersion"])
    assert model_version["spec"]["source"]["trainingRun"] == "iris-dask"
    assert model_version["spec"]["artifact"]["sha256"] == status["artifact"]["sha256"]
    # the runner pod is the DaskJob's and ran restricted; its cluster is gone once it ended
    runner = k.get_json("pod", "iris-dask-dask-runner")
    assert runner["metadata"]["labels"]["app.kubernetes.io/instance"] == "iris-dask"
    assert runner["spec"]["securityContext"]["runAsNonRoot"] is True
    # the container's end (the result) can reach the run before the pod's phase is updated
    wait_for(
        lambda: k.get_json("pod", "iris-dask-dask-runner")["status"].get("phase") == "Succeeded",
        timeout=60,
        message="the runner pod Succeeded",
    )
    wait_for(
        lambda: k.run("get", "daskcluster", "iris-dask-dask", check=False).returncode != 0,
        timeout=120,
        message="the Dask operator deleted the finished job's cluster",
    )
