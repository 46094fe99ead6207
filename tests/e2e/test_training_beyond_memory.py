"""More data than one training pod may hold, on the real cluster, end to end.

A pod writes a partitioned Parquet source to a claim: ROWS rows of FEATURES float features and a
label, several files. The Dataset ingests it in one streaming pass. Every training pod gets the
same memory limit, POD_MEMORY:

- a single-pod TrainingRun, which loads the whole snapshot, is OOM-killed by the kernel and ends
  TrainingFailed with a message naming the limit;
- the same run with `compute` (the Dask engine, two workers) trains blockwise, runner and workers
  each under that limit, and registers a ModelVersion;
- that version is served like any other, and a DriftPolicy watches it: quiet while the traffic is
  like the training data, firing once the traffic shifts.

The Dask operator is the dask_operator fixture's; Ballast watches its namespace too.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from ballast.reasons import OUT_OF_MEMORY
from tests.integration.test_partitioned_dataset import written_to_claim
from tests.support.ballast_objects import (
    condition,
    dataset,
    drift_policy,
    training_run,
    wait_for_condition,
    wait_for_stage,
)
from tests.support.dask_engine import delete_run_and_its_dask_job
from tests.support.kube import Kubectl, wait_for
from tests.support.pod_memory import PeakMemory
from tests.support.traffic import PooledTraffic

MODEL = "wide"
ROWS, FEATURES, FILES = 3_600_000, 20, 6
POD_MEMORY = "512Mi"
POD_MEMORY_BYTES = 512 * 2**20
BLOCK_ROWS = 50_000
NAMES = [f"f{index:02d}" for index in range(FEATURES)]
SHIFTED = NAMES[: FEATURES // 2]
"""The features that move when the world shifts: half of them."""

# One definition of the world, run by the pod that writes the source and by the test's traffic:
# standard normal features (two decimals, as measured values often are) and a label from a fixed
# linear boundary with noise; shifted, the first half of the features move by two deviations.
WORLD = f"""
import numpy as np
FEATURES = {FEATURES}
WEIGHTS = np.linspace(1.0, 0.1, FEATURES)

def world(rows, seed, shifted=False):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, FEATURES), dtype=np.float32)
    if shifted:
        x[:, : FEATURES // 2] += 2.0
    x = np.round(x, 2)
    label = ((x - (2.0 if shifted else 0.0) * (np.arange(FEATURES) < FEATURES // 2)) @ WEIGHTS
             + rng.standard_normal(rows) * 0.5 > 0).astype(np.int64)
    return x, label
"""

WRITE_SOURCE = (
    WORLD
    + f"""
import os
import pyarrow as pa, pyarrow.parquet as pq
names = [f"f{{index:02d}}" for index in range(FEATURES)]
per_file = {ROWS} // {FILES}
os.makedirs('/out/wide', exist_ok=True)
for part in range({FILES}):
    x, label = world(per_file, seed=part)
    table = pa.table({{**{{n: x[:, i] for i, n in enumerate(names)}}, 'label': label}})
    pq.write_table(table, f'/out/wide/day={{part:02d}}.parquet', compression='zstd')
"""
)


def world(rows: int, seed: int, shifted: bool = False) -> tuple[np.ndarray, np.ndarray]:
    scope: dict = {}
    exec(WORLD, scope)  # the same source the writing pod runs
    return scope["world"](rows, seed, shifted)


def traffic_rows(rows: int, seed: int, shifted: bool) -> list[dict]:
    x, label = world(rows, seed, shifted)
    return [{**dict(zip(NAMES, map(float, values))), "label": int(y)} for values, y in zip(x, label)]


@pytest.fixture
def k(kubectl: Kubectl, ballast_operator, dask_operator) -> Kubectl:
    """kubectl in the Dask operator's namespace (the one it serves), which Ballast watches too."""
    return kubectl.in_namespace(dask_operator.namespace)


def wide_dataset(k: Kubectl) -> dict:
    """The source written to the claim `wide-raw`, and the Dataset over it."""
    k.run("create", "configmap", "empty")
    written_to_claim(k, "wide-raw", "empty", WRITE_SOURCE, storage="1Gi")
    columns = [{"name": name, "type": "float"} for name in NAMES] + [{"name": "label", "type": "integer"}]
    document = dataset(
        MODEL, {"pvc": {"claimName": "wide-raw", "path": "wide", "partitioned": True}}, columns=columns, fmt="parquet"
    )
    document["spec"]["schema"]["target"] = "label"
    return document


def wide_run(name: str, **spec: object) -> dict:
    """An SGD classifier on the Dataset, its pod limited to POD_MEMORY, its version served at once."""
    run = training_run(name, MODEL, model=MODEL, estimator="sklearn.linear_model.SGDClassifier", params={"alpha": 1e-4})
    run["spec"] |= {
        "resources": {"limits": {"memory": POD_MEMORY}, "requests": {"memory": POD_MEMORY, "cpu": "100m"}},
        "activeDeadlineSeconds": 900,
        "evaluation": {"testFraction": 0.2},
        "modelVersionTemplate": {"serving": {"replicas": 1}, "rollout": {"strategy": "Immediate"}},
        **spec,
    }
    return run


def wide_drift_policy() -> dict:
    checks = {"featureDrift": {"numericMethod": "psi", "driftedShare": 0.3}}
    return drift_policy(f"{MODEL}-drift", MODEL, checks, min_samples=300)


def test_a_dataset_too_large_for_one_pod_trains_on_dask_workers_and_is_served_and_watched(k: Kubectl, report):
    k.apply(wide_dataset(k))
    ready = condition(wait_for_condition(k, "dataset", MODEL, "Ready", timeout=300), "Ready")
    assert ready["status"] == "True", ready
    version = k.get_json("dataset", MODEL)["status"]["versions"][0]
    assert version["rows"] == ROWS
    assert ROWS * FEATURES * 8 > POD_MEMORY_BYTES, "the features alone, as float64, exceed one pod's limit"

    # one pod, the whole snapshot in memory: killed by the kernel at the limit
    k.apply(wide_run("wide-one-pod"))
    failed = condition(wait_for_condition(k, "trainingrun", "wide-one-pod", "Succeeded", timeout=600), "Succeeded")
    assert (failed["status"], failed["reason"]) == ("False", OUT_OF_MEMORY), failed
    assert "OOMKilled" in failed["message"] and POD_MEMORY in failed["message"], failed

    # the same run, blockwise on two Dask workers, every pod under the same limit
    worker = {"limits": {"memory": POD_MEMORY}, "requests": {"memory": POD_MEMORY, "cpu": "250m"}}
    compute = {"engine": "dask", "workers": 2, "workerResources": worker, "blockRows": BLOCK_ROWS, "epochs": 2}
    started = time.monotonic()
    k.apply(wide_run("wide-dask", compute=compute))
    try:
        with PeakMemory(k, "dask.org/cluster-name=wide-dask-dask") as memory:
            done = wait_for_condition(k, "trainingrun", "wide-dask", "Succeeded", timeout=900)
        seconds = time.monotonic() - started
        succeeded = condition(done, "Succeeded")
        log = k.run("logs", "wide-dask-dask-runner", check=False)
        assert (succeeded["status"], succeeded["reason"]) == ("True", "Trained"), f"{succeeded}\n{log.stdout}"
        assert done["status"]["reproducibility"]["blockwise"] == {"blockRows": BLOCK_ROWS, "epochs": 2}
        assert done["status"]["metrics"]["accuracy"] >= 0.85, done["status"]["metrics"]
        runner = k.get_json("pod", "wide-dask-dask-runner")
        assert runner["spec"]["containers"][0]["resources"]["limits"]["memory"] == POD_MEMORY
        assert runner["status"]["containerStatuses"][0]["restartCount"] == 0
        peaks = ", ".join(sorted(f"{_role(name)} {peak >> 20}" for name, peak in memory.peaks.items()))
        report(
            f"{ROWS:,} rows x {FEATURES} features ({ROWS * FEATURES * 8 >> 20} MiB as float64), every training pod "
            f"limited to {POD_MEMORY}: one pod OOM-killed; on 2 Dask workers (blocks of {BLOCK_ROWS:,} rows) "
            f"Trained {seconds:.0f} s after it was applied, accuracy {done['status']['metrics']['accuracy']:.3f}; "
            f"peak memory in MiB (cgroup): {peaks or 'not readable on this node'}"
        )
        served = done["status"]["modelVersion"]
        wait_for_stage(k, served, "Production", timeout=180)
        _watched_by_a_drift_policy(k, served)
    finally:
        delete_run_and_its_dask_job(k, "wide-dask")


def _role(pod: str) -> str:
    return next(role for role in ("worker", "runner", "scheduler") if role in pod)


def _watched_by_a_drift_policy(k: Kubectl, served: str) -> None:
    pools = {
        "before": traffic_rows(3000, seed=101, shifted=False),
        "shifted": traffic_rows(3000, seed=102, shifted=True),
    }
    k.apply(wide_drift_policy())
    with PooledTraffic(k, MODEL, NAMES, "label", pools, "before", pause=0.02) as traffic:
        calm = wait_for(
            lambda: _judged(k, served),
            timeout=120,
            message="a window judged on traffic like the training data",
        )
        assert calm["verdict"] == "NoDrift", calm["checks"]
        traffic.world = "shifted"
        fired = wait_for(
            lambda: ((k.get_json("driftpolicy", f"{MODEL}-drift").get("status") or {}).get("firings") or [None])[0],
            timeout=120,
            message="the policy fires on shifted traffic",
        )
    assert traffic.failures == [], traffic.failures[:5]
    assert fired["modelVersion"] == served, fired


def _judged(k: Kubectl, served: str) -> dict | None:
    status = k.get_json("driftpolicy", f"{MODEL}-drift").get("status") or {}
    judged = status.get("modelVersion") == served and status.get("verdict") in ("NoDrift", "Drifted")
    return status if judged else None
