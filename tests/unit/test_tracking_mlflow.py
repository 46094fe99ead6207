"""ballast.tracking.mlflow_log against a real MLflow tracking server (tests/support/mlflow_server.py:
the full mlflow package in its own virtualenv, sqlite backend, served artifacts), queried back
through MLflow's client: what it holds, and that logging again never makes a second run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ballast.tracking.mlflow_log import TrackingError, log_tracked_run, mlflow_client
from ballast.tracking.record import COMPLETE_TAG, RUN_UID_TAG, TrackedRun
from tests.support.mlflow_server import MlflowServer, running_mlflow_server
from tests.support.net import free_port

pytestmark = pytest.mark.index  # installs mlflow into a virtualenv of its own on first use

CARD = {"markdown": b"# Model card: credit-risk\n\nIntended use: tests.\n", "json": b'{"model": "credit-risk"}'}


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory) -> Iterator[MlflowServer]:
    with running_mlflow_server(tmp_path_factory.mktemp("mlflow"), "127.0.0.1", free_port()) as server:
        yield server


def tracked(uid: str, **changes) -> TrackedRun:
    fields = dict(
        uid=uid,
        run_name="credit-1",
        experiment="ballast/ml/credit-risk",
        status="FINISHED",
        start_ms=1767265200000,
        end_ms=1767265350000,
        params={"C": "1.0", "solver": "lbfgs", **{f"p{i}": str(i) for i in range(150)}},  # past one batch
        metrics={"accuracy": 0.9512345678, "f1_macro": 0.94},
        tags={RUN_UID_TAG: uid, "ballast.dataset.sha256": "d" * 64, "ballast.modelVersion": "credit-risk-ffff"},
    )
    return TrackedRun(**{**fields, **changes})


def runs_of(client, uid: str):
    experiment = client.get_experiment_by_name("ballast/ml/credit-risk")
    return client.search_runs([experiment.experiment_id], filter_string=f"tags.`{RUN_UID_TAG}` = '{uid}'")


def test_a_run_is_logged_with_everything_and_logging_it_again_changes_nothing(
    mlflow_server: MlflowServer, tmp_path: Path
):
    client = mlflow_client(mlflow_server.uri)
    run_id = log_tracked_run(client, tracked("uid-1"), CARD)
    assert log_tracked_run(client, tracked("uid-1"), CARD) == run_id
    [run] = runs_of(client, "uid-1")
    assert run.info.run_id == run_id and run.info.run_name == "credit-1"
    assert run.info.status == "FINISHED"
    assert (run.info.start_time, run.info.end_time) == (1767265200000, 1767265350000)
    assert run.data.params == tracked("uid-1").params
    assert run.data.metrics == {"accuracy": 0.9512345678, "f1_macro": 0.94}
    assert run.data.tags["ballast.dataset.sha256"] == "d" * 64
    assert run.data.tags["ballast.modelVersion"] == "credit-risk-ffff"
    assert run.data.tags[COMPLETE_TAG] == "complete"
    assert [m.value for m in client.get_metric_history(run_id, "accuracy")] == [0.9512345678]
    names = sorted(a.path for a in client.list_artifacts(run_id))
    assert names == ["model_card.json", "model_card.md"]
    downloaded = Path(client.download_artifacts(run_id, "model_card.md", str(tmp_path)))
    assert downloaded.read_bytes() == CARD["markdown"]


def test_a_run_left_half_logged_is_finished_not_made_twice(mlflow_server: MlflowServer):
    client = mlflow_client(mlflow_server.uri)
    log_tracked_run(client, tracked("uid-0"), {})  # makes the experiment
    experiment = client.get_experiment_by_name("ballast/ml/credit-risk")
    # what an operator killed after creating the run (and one metric) leaves behind
    half = client.create_run(experiment.experiment_id, tags={RUN_UID_TAG: "uid-2"}, run_name="credit-1")
    client.log_metric(half.info.run_id, "accuracy", 0.9512345678, timestamp=1767265350000, step=0)
    assert log_tracked_run(client, tracked("uid-2", status="FAILED"), CARD) == half.info.run_id
    [run] = runs_of(client, "uid-2")
    assert run.info.status == "FAILED" and run.data.tags[COMPLETE_TAG] == "complete"
    assert [m.value for m in client.get_metric_history(half.info.run_id, "accuracy")] == [0.9512345678]


def test_a_server_that_does_not_answer_is_a_tracking_error_that_says_so():
    with pytest.raises(TrackingError) as raised:
        log_tracked_run(mlflow_client(f"http://127.0.0.1:{free_port()}"), tracked("uid-3"), CARD)
    assert not raised.value.answered
    assert "127.0.0.1" in str(raised.value)


def test_a_server_that_refuses_is_a_tracking_error_that_it_answered(mlflow_server: MlflowServer):
    client = mlflow_client(mlflow_server.uri)
    log_tracked_run(client, tracked("uid-0"), {})  # makes the experiment
    experiment = client.get_experiment_by_name("ballast/ml/credit-risk")
    # a run already holding another value of a param: MLflow refuses to change a logged param
    other = client.create_run(experiment.experiment_id, tags={RUN_UID_TAG: "uid-4"}, run_name="credit-1")
    client.log_param(other.info.run_id, "C", "2.0")
    with pytest.raises(TrackingError) as raised:
        log_tracked_run(client, tracked("uid-4"), CARD)
    assert raised.value.answered
    assert "C" in str(raised.value)
