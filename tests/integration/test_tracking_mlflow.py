"""Experiment tracking on the local cluster: a TrainingRun trained by a real Job ends up in a real
MLflow tracking server (tests/support/mlflow_server.py, started here on loopback, where the
tests' operator runs), queried back through MLflow's client; with the server down, the run
still succeeds and its Tracked condition says why it is not logged, until the server is back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ballast.tracking.mlflow_log import mlflow_client
from ballast.tracking.record import RUN_UID_TAG, default_experiment
from tests.conftest import make_namespace
from tests.support.ballast_objects import (
    condition,
    dataset,
    iris_rows,
    run_ballast_on_store,
    training_run,
    wait_for_condition,
)
from tests.support.kube import Kubectl, shared_store_dir, wait_for
from tests.support.mlflow_server import running_mlflow_server
from tests.support.net import free_port
from tests.support.operator_process import OperatorProcess

GATES = {"minimums": {"accuracy": 0.8}}


@pytest.fixture
def own_namespace(kubectl: Kubectl) -> Iterator[str]:
    """Outside the session operator's pattern: the tracking operator is its only one."""
    yield from make_namespace(kubectl, prefix="tracked-")


def _tracking_operator(kubeconfig: Path, namespace: str, log: Path, uri: str) -> OperatorProcess:
    env = {"BALLAST_TRACKING_URI": uri, "BALLAST_TRACKING_RETRY_SECONDS": "3"}
    return OperatorProcess(kubeconfig, log, store_dir=shared_store_dir(), env=env, namespaces=(namespace,))


def _tracked(k: Kubectl, run: str, status: str, timeout: float = 90) -> dict:
    def settled():
        document = k.get_json("trainingrun", run)
        return document if condition(document, "Tracked").get("status") == status else None

    return wait_for(settled, timeout=timeout, interval=1, message=f"trainingrun/{run} Tracked {status}")


def _mlflow_run(uri: str, namespace: str, uid: str):
    client = mlflow_client(uri)
    experiment = client.get_experiment_by_name(default_experiment(namespace, "iris"))
    assert experiment is not None, "no experiment for the model"
    return client.search_runs([experiment.experiment_id], filter_string=f"tags.`{RUN_UID_TAG}` = '{uid}'")


def test_a_trained_run_is_in_mlflow_with_its_params_metrics_gates_lineage_and_card(
    kubectl: Kubectl, kubeconfig: Path, own_namespace: str, crds, tmp_path: Path
):
    k = kubectl.in_namespace(own_namespace)
    with (
        running_mlflow_server(tmp_path / "mlflow", "127.0.0.1", free_port()) as server,
        _tracking_operator(kubeconfig, own_namespace, tmp_path / "operator.log", server.uri) as operator,
    ):
        k.apply(dataset("iris", {"inline": {"rows": iris_rows()}}))
        k.apply(training_run("iris-logreg", "iris", params={"C": 1.0, "max_iter": 500}, gates=GATES))
        run = wait_for_condition(k, "trainingrun", "iris-logreg", "Succeeded", timeout=300)
        assert condition(run, "Succeeded")["status"] == "True", condition(run, "Succeeded")
        run = _tracked(k, "iris-logreg", "True")
        tracked = condition(run, "Tracked")
        status = run["status"]
        assert tracked["reason"] == "Logged" and server.uri in tracked["message"], tracked

        [logged] = _mlflow_run(server.uri, own_namespace, run["metadata"]["uid"])
        assert logged.info.run_id in tracked["message"]
        assert logged.info.run_name == "iris-logreg" and logged.info.status == "FINISHED"
        # parameters as fitted (defaults included), every metric at full precision
        # (the API server keeps 1.0 as the JSON number 1: the text is status's, the value the same)
        assert float(logged.data.params["C"]) == 1.0 and logged.data.params["max_iter"] == "500"
        assert logged.data.params["solver"] == status["params"]["solver"]
        assert set(logged.data.params) == set(status["params"])
        assert logged.data.metrics == pytest.approx(status["metrics"], rel=0, abs=0)
        # the gates, and what joins the MLflow run to Ballast's lineage
        tags = logged.data.tags
        assert tags["ballast.gate.minimum/accuracy"].startswith("passed")
        assert tags["ballast.gates"] == "passed"
        assert tags["ballast.dataset.sha256"] == status["datasetVersion"]
        assert tags["ballast.modelVersion"] == status["modelVersion"]
        assert tags["ballast.artifact.sha256"] == status["artifact"]["sha256"]
        assert tags["ballast.namespace"] == own_namespace and tags["ballast.trainingRun"] == "iris-logreg"

        # the model card, byte for byte what `ballast card` reads from the store
        card = run_ballast_on_store(k.kubeconfig, "card", status["modelVersion"], "-n", own_namespace)
        assert card.returncode == 0, card.stderr
        client = mlflow_client(server.uri)
        downloaded = Path(client.download_artifacts(logged.info.run_id, "model_card.md", str(tmp_path)))
        assert downloaded.read_text() == card.stdout
        assert card.stdout.startswith("# Model card: iris\n")

        events = k.get_json("events", "--field-selector", "involvedObject.name=iris-logreg,reason=Logged")
        assert [e["type"] for e in events["items"]] == ["Normal"], events["items"]
    assert operator.log_problems() == []


def test_with_the_tracking_server_down_the_run_succeeds_and_says_why_it_is_not_tracked_until_the_server_is_back(
    kubectl: Kubectl, kubeconfig: Path, own_namespace: str, crds, tmp_path: Path
):
    k = kubectl.in_namespace(own_namespace)
    port = free_port()
    uri = f"http://127.0.0.1:{port}"  # nothing listens there yet
    with _tracking_operator(kubeconfig, own_namespace, tmp_path / "operator.log", uri) as operator:
        k.apply(dataset("iris", {"inline": {"rows": iris_rows()}}))
        k.apply(training_run("iris-down", "iris", gates=GATES))
        run = wait_for_condition(k, "trainingrun", "iris-down", "Succeeded", timeout=300)
        assert condition(run, "Succeeded")["status"] == "True", condition(run, "Succeeded")
        run = _tracked(k, "iris-down", "False")
        tracked = condition(run, "Tracked")
        assert tracked["reason"] == "TrackingServerUnreachable", tracked
        assert uri in tracked["message"] and "onnection refused" in tracked["message"], tracked
        # training's outcome is untouched: trained, registered, Ready, not stalled
        assert condition(run, "Ready")["status"] == "True" and condition(run, "Stalled")["status"] == "False"
        assert run["status"]["modelVersion"]
        warnings = k.get_json(
            "events", "--field-selector", "involvedObject.name=iris-down,reason=TrackingServerUnreachable"
        )
        assert [e["type"] for e in warnings["items"]] == ["Warning"], warnings["items"]
        unreachable = (
            f'ballast_tracking_attempts_total{{namespace="{own_namespace}",result="TrackingServerUnreachable"}}'
        )
        assert unreachable in operator.metrics()

        # the server comes up on that address: the next retry logs the run, once
        with running_mlflow_server(tmp_path / "mlflow", "127.0.0.1", port) as server:
            run = _tracked(k, "iris-down", "True", timeout=120)
            assert condition(run, "Tracked")["reason"] == "Logged"
            [logged] = _mlflow_run(server.uri, own_namespace, run["metadata"]["uid"])
            assert logged.data.tags["ballast.dataset.sha256"] == run["status"]["datasetVersion"]
        assert (
            f'ballast_tracking_attempts_total{{namespace="{own_namespace}",result="Logged"}} 1.0' in operator.metrics()
        )
    assert operator.log_problems() == []
