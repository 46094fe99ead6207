"""A partitioned Dataset on the real local cluster: a folder of CSV files on a claim is ingested by
the ingest Job's pod in one streaming pass, and a TrainingRun trains on its partitioned snapshot."""

from __future__ import annotations

import pytest

from tests.integration.test_training import SOURCE_LABEL, _copy_to_claim_pod, _valid_version
from tests.support.ballast_objects import condition, dataset, iris_csv, training_run, wait_for_condition
from tests.support.kube import Kubectl, shared_store_dir, wait_for

# Splits iris.csv into three files in two folders: the rows keep their order only if the
# ingest reads the files in path order (day=1/a, day=1/b, day=2/c).
SPLIT_INTO_PARTS = """
import os
lines = open('/in/iris.csv').read().splitlines()
header, rows = lines[0], lines[1:]
for path, chunk in (('day=1/a.csv', rows[:40]), ('day=1/b.csv', rows[40:100]), ('day=2/c.csv', rows[100:])):
    target = os.path.join('/out/iris-parts', path)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, 'w') as handle:
        handle.write('\\n'.join([header, *chunk]) + '\\n')
"""


@pytest.fixture
def k(kubectl: Kubectl, namespace: str, ballast_operator) -> Kubectl:
    return kubectl.in_namespace(namespace)


def written_to_claim(k: Kubectl, claim: str, configmap: str, script: str, storage: str = "10Mi") -> None:
    """A new claim, labelled as a source, that a pod running `script` has written to (the
    ConfigMap at /in, the claim at /out)."""
    k.apply(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": claim, "labels": SOURCE_LABEL},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": storage}}},
        }
    )
    pod = f"write-{claim}"
    k.apply(_copy_to_claim_pod(pod, configmap, claim, script))
    wait_for(
        lambda: k.get_json("pod", pod)["status"].get("phase") == "Succeeded",
        timeout=180,
        message=f"the files written to the claim {claim}",
    )


def iris_parts_on_claim(k: Kubectl, script: str = SPLIT_INTO_PARTS) -> dict:
    """iris.csv split by `script` into files under iris-parts/ on the claim `raw`, and the
    partitioned Dataset iris-parts over them."""
    k.run("create", "configmap", "iris", "--from-literal=iris.csv=" + iris_csv())
    written_to_claim(k, "raw", "iris", script)
    return dataset("iris-parts", {"pvc": {"claimName": "raw", "path": "iris-parts", "partitioned": True}})


def test_a_folder_of_csv_files_on_a_claim_is_one_version_and_is_trained_on(k: Kubectl, namespace: str):
    k.apply(iris_parts_on_claim(k))

    status = _valid_version(k, "iris-parts")["status"]
    version = status["versions"][0]
    assert version["rows"] == 150 and version["valid"] is True
    assert version["snapshotUri"] == (
        f"file:///var/lib/ballast/{namespace}/datasets/iris-parts/{status['latestVersion']}/data"
    )
    parts = shared_store_dir() / version["snapshotUri"].removeprefix("file:///var/lib/ballast/")
    assert sorted(path.name for path in parts.iterdir()) == ["part-00000.parquet"]

    k.apply(training_run("iris-parts-logreg", "iris-parts", params={"C": 1.0, "max_iter": 500}))
    run = wait_for_condition(k, "trainingrun", "iris-parts-logreg", "Succeeded")
    succeeded = condition(run, "Succeeded")
    assert (succeeded["status"], succeeded["reason"]) == ("True", "Trained"), succeeded
    assert run["status"]["datasetVersion"] == status["latestVersion"]
    assert run["status"]["metrics"]["accuracy"] >= 0.8
