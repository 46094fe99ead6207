"""Blockwise training on a real Dask cluster of worker processes on this machine (distributed's
LocalCluster): every task and the estimator between them cross process boundaries as they do
between pods, and the model's bytes are the same as in one process, on one worker or two."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
from distributed import Client, LocalCluster, get_task_stream
from sklearn.linear_model import SGDClassifier

from ballast.models.skops_format import serialize_model
from ballast.training.blockwise.dask_engine import DaskEngine
from ballast.training.blockwise.orchestrate import InProcess, train_blockwise
from tests.unit.test_blockwise_training import frame_blocks
from tests.unit.test_training_run import mixed_classification


@pytest.fixture(scope="module", params=[1, 2], ids=["1 worker", "2 workers"])
def client(request) -> Iterator[Client]:
    with (
        LocalCluster(n_workers=request.param, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster,
        Client(cluster) as connected,
    ):
        yield connected


def model_sha256(engine) -> str:
    frame, schema = mixed_classification()
    columns, blocks, load = frame_blocks(frame, schema, "classification", block_rows=100)
    fit = train_blockwise(
        blocks, load, engine, estimator=SGDClassifier(loss="log_loss", random_state=3), columns=columns,
        task="classification", scale=True, seed=3,
    )  # fmt: skip
    return serialize_model(fit.pipeline).sha256


def test_workers_train_the_same_model_bytes_as_one_process(client: Client):
    with get_task_stream(client) as stream:
        on_workers = model_sha256(DaskEngine(client))
    assert on_workers == model_sha256(InProcess())
    # every worker ran tasks: 569 rows are 6 blocks, each summarised, fitted in 5 epochs and scored
    ran = Counter(task["worker"] for task in stream.data)
    assert set(ran) == set(client.scheduler_info()["workers"]) and sum(ran.values()) == 6 + 5 * 6 + 6
