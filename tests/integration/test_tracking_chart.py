"""Experiment tracking as the chart installs it: the operator runs as a pod (uid 65532, read-only
root filesystem, TMPDIR on an emptyDir), and logs a trained run to a real MLflow tracking server
that listens on the pod network's gateway, on this machine (how pods reach host processes on the
local cluster: tests/cluster/README.md)."""

from __future__ import annotations

import uuid
from pathlib import Path

from ballast.tracking.mlflow_log import mlflow_client
from ballast.tracking.record import RUN_UID_TAG, default_experiment
from tests.integration.test_helm_install import (  # noqa: F401  (own_namespace: a fixture)
    log_problems,
    operator_log,
    own_namespace,
    running_operator_pod,
)
from tests.integration.test_store_s3_cluster import pod_gateway
from tests.support.ballast_objects import condition, dataset, iris_rows, training_run, wait_for_condition
from tests.support.helm import Release, cluster_values
from tests.support.kube import Kubectl, wait_for
from tests.support.mlflow_server import running_mlflow_server
from tests.support.net import free_port


def test_the_chart_installed_operator_logs_a_trained_run_to_a_tracking_server_it_reaches_over_the_pod_network(
    kubectl: Kubectl,
    kubeconfig: Path,
    own_namespace,  # noqa: F811  (the fixture imported above)
    tmp_path: Path,
):
    namespace, releases = own_namespace
    k = kubectl.in_namespace(namespace)
    gateway = pod_gateway(kubectl)
    with running_mlflow_server(tmp_path / "mlflow", gateway, free_port(gateway)) as server:
        release = Release(f"tr-{uuid.uuid4().hex[:6]}", namespace, kubeconfig)
        releases.append(release)
        release.install(
            cluster_values([namespace]) | {"tracking.uri": server.uri, "tracking.retrySeconds": 5},
            take_ownership=True,
        )
        pod = running_operator_pod(k, release)
        k.apply(dataset("iris", {"inline": {"rows": iris_rows()}}))
        k.apply(training_run("iris-chart", "iris", gates={"minimums": {"accuracy": 0.8}}))
        run = wait_for_condition(k, "trainingrun", "iris-chart", "Succeeded", timeout=300)
        assert condition(run, "Succeeded")["status"] == "True", condition(run, "Succeeded")

        def logged():
            document = k.get_json("trainingrun", "iris-chart")
            return document if condition(document, "Tracked").get("status") == "True" else None

        run = wait_for(logged, timeout=90, interval=1, message="trainingrun/iris-chart Tracked True")
        client = mlflow_client(server.uri)
        experiment = client.get_experiment_by_name(default_experiment(namespace, "iris"))
        assert experiment is not None
        [mlflow_run] = client.search_runs(
            [experiment.experiment_id], filter_string=f"tags.`{RUN_UID_TAG}` = '{run['metadata']['uid']}'"
        )
        assert mlflow_run.data.tags["ballast.modelVersion"] == run["status"]["modelVersion"]
        assert mlflow_run.data.tags["ballast.dataset.sha256"] == run["status"]["datasetVersion"]
        # the card went up through the server (--serve-artifacts) from the pod's scratch directory
        assert sorted(a.path for a in client.list_artifacts(mlflow_run.info.run_id)) == [
            "model_card.json",
            "model_card.md",
        ]
        assert log_problems(operator_log(k, pod)) == []
