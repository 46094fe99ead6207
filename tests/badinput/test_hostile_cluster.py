"""Hostile data and artifacts on the real cluster: what the operator makes of them.

A Dataset whose file is hostile is read by a real ingest pod; a ModelVersion whose artifact
is hostile is verified by the operator itself. Each refusal must show as Ready False with
the reason, and as a Warning Event with the same reason, and nothing may be executed or
written outside the store.
"""

from __future__ import annotations

import base64
import io
import json
import os
import pickle
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.datasets import load_iris
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

from ballast.build.naming import DATASET_SOURCE_LABEL
from ballast.build.security import restricted_container_security_context, restricted_pod_security_context
from ballast.models.digest import sha256_hex
from ballast.models.skops_format import serialize_model
from tests.badinput.test_hostile_data import FORMULAS, formula_csv
from tests.support.ballast_objects import condition, dataset, iris_rows, training_run, wait_for_condition
from tests.support.image import ballast_image
from tests.support.kube import Kubectl, shared_store_dir, wait_for
from tests.support.planted_models import STORE, model_version
from tests.unit.test_models_skops import WritesSentinel


@pytest.fixture
def k(kubectl: Kubectl, namespace: str, operator_for_badinput) -> Kubectl:
    return kubectl.in_namespace(namespace)


def warning_reasons(k: Kubectl, kind: str, name: str) -> set[str]:
    events = k.get_json("events", "--field-selector", f"involvedObject.kind={kind},involvedObject.name={name}")
    return {event["reason"] for event in events["items"] if event["type"] == "Warning"}


def assert_refused(k: Kubectl, resource: str, kind: str, name: str, reason: str, timeout: float = 180) -> dict:
    """Ready False with reason on name, and a Warning Event that says the same."""
    try:
        document = wait_for_condition(k, resource, name, "Ready", statuses=("False",), timeout=timeout)
    except AssertionError as error:
        seen = k.get_json(resource, name).get("status")
        raise AssertionError(f"{error}; its status then: {json.dumps(seen)[:1500]}") from None
    ready = condition(document, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", reason), f"{name}: {ready}"
    assert ready["observedGeneration"] == document["metadata"]["generation"]
    wait_for(lambda: reason in warning_reasons(k, kind, name), timeout=30, message=f"a {reason} Event on {name}")
    return document


# --- datasets ------------------------------------------------------------------------------


def price_parquet() -> bytes:
    buffer = io.BytesIO()
    pq.write_table(pa.table({"price": pa.array(["1.5", "abc", "2", "=1+1"])}), buffer)
    return buffer.getvalue()


FILL_CLAIM = """
import os, shutil
os.makedirs('/out/data', exist_ok=True)
for name in os.listdir('/in'):
    if not name.startswith('.'):
        shutil.copy(os.path.join('/in', name), os.path.join('/out/data', name))
with open('/out/data/huge.csv', 'wb') as handle:
    handle.write(b'x,y\\n1,2\\n3,')
    for _ in range(100):
        handle.write(b'a' * (1 << 20))
    handle.write(b'\\n')
os.symlink('/etc/passwd', '/out/data/link.csv')
"""


def fill_claim(k: Kubectl, claim: str, files: dict[str, bytes]) -> None:
    """The files into the claim's data/ folder, plus a 100 MB line and a symlink out of the volume."""
    k.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "hostile-files"},
            "binaryData": {name: base64.b64encode(content).decode() for name, content in files.items()},
        }
    )
    k.apply(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": claim, "labels": {DATASET_SOURCE_LABEL: "true"}},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "200Mi"}}},
        }
    )
    k.apply(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "fill-hostile"},
            "spec": {
                "securityContext": restricted_pod_security_context(),
                "restartPolicy": "Never",
                "containers": [
                    {
                        "securityContext": restricted_container_security_context(),
                        "name": "fill",
                        "image": ballast_image(),
                        "command": ["python3", "-c", FILL_CLAIM],
                        "volumeMounts": [{"name": "in", "mountPath": "/in"}, {"name": "out", "mountPath": "/out"}],
                    }
                ],
                "volumes": [
                    {"name": "in", "configMap": {"name": "hostile-files"}},
                    {"name": "out", "persistentVolumeClaim": {"claimName": claim}},
                ],
            },
        }
    )
    wait_for(
        lambda: k.get_json("pod", "fill-hostile")["status"].get("phase") in ("Succeeded", "Failed"),
        timeout=90,
        message="the pod that fills the claim",
    )
    assert k.get_json("pod", "fill-hostile")["status"]["phase"] == "Succeeded"


def table(name: str, path: str, columns: list[dict], fmt: str = "csv") -> dict:
    """A Dataset of the file at path in the claim `hostile`, with no target column."""
    document = dataset(name, {"pvc": {"claimName": "hostile", "path": path}}, columns=columns, min_rows=1, fmt=fmt)
    del document["spec"]["schema"]["target"]
    return document


def test_hostile_dataset_files_are_refused_with_a_condition_and_an_event(k: Kubectl):
    fill_claim(k, "hostile", {"formulas.csv": formula_csv(), "prices.parquet": price_parquet()})
    formulas = [
        {"name": "note", "type": "string"},
        {"name": "kind", "type": "category", "allowedValues": ["=1+1"]},
        {"name": "amount", "type": "float"},
    ]
    xy = [{"name": "x", "type": "float"}, {"name": "y", "type": "string"}]
    k.apply(table("formulas", "data/formulas.csv", formulas))
    k.apply(table("huge-line", "data/huge.csv", xy))
    k.apply(table("text-prices", "data/prices.parquet", [{"name": "price", "type": "float"}], fmt="parquet"))
    k.apply(table("dot-dot", "data/../../../../etc/passwd", xy))
    k.apply(table("symlink", "data/link.csv", xy))

    huge = assert_refused(k, "dataset", "Dataset", "huge-line", "SourceTooLarge")
    assert "line 3 of the CSV is longer than" in condition(huge, "Ready")["message"]
    prices = assert_refused(k, "dataset", "Dataset", "text-prices", "InvalidData")
    assert prices["status"]["versions"][0]["violations"] == [
        "column price: 2 values are not finite numbers (first at row 2)"
    ]
    for name in ("dot-dot", "symlink"):
        assert_refused(k, "dataset", "Dataset", name, "SourceOutsideVolume")

    valid = wait_for_condition(k, "dataset", "formulas", "Ready", timeout=120)
    assert condition(valid, "Ready")["status"] == "True", condition(valid, "Ready")
    profile_uri = valid["status"]["versions"][0]["profileUri"]
    profile = json.loads((shared_store_dir() / profile_uri.removeprefix(f"{STORE}/")).read_text())
    assert sorted(entry["value"] for entry in profile["columns"]["note"]["frequencies"]) == sorted(FORMULAS)


# --- model versions ------------------------------------------------------------------------


def test_hostile_artifacts_are_refused_by_the_operator_and_nothing_runs_or_is_written(
    k: Kubectl, namespace: str, tmp_path: Path
):
    model = f"hostile-{namespace}"
    folder = shared_store_dir() / namespace / "models" / model
    folder.mkdir(parents=True, exist_ok=True)
    # another namespace's part of the store: a ModelVersion may name only its own namespace's
    elsewhere = shared_store_dir() / f"{namespace}-other" / "models" / model / "trusted"
    elsewhere.mkdir(parents=True, exist_ok=True)
    iris_x, iris_y = load_iris(return_X_y=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = serialize_model(SVC().fit(iris_x, iris_y))
    (outside / "model.skops").write_bytes(secret.data)
    sentinel = outside / f"pwned-{uuid.uuid4().hex}"

    def planted(name: str, data: bytes) -> tuple[str, str]:
        (folder / name).mkdir()
        (folder / name / "model.skops").write_bytes(data)
        return f"{STORE}/{namespace}/models/{model}/{name}/model.skops", sha256_hex(data)

    trusted = serialize_model(DecisionTreeClassifier(max_depth=2).fit(iris_x, iris_y))
    (elsewhere / "model.skops").write_bytes(trusted.data)

    (folder / "linked").mkdir()
    (folder / "linked" / "model.skops").symlink_to(outside / "model.skops")
    (folder / "fifo").mkdir()
    os.mkfifo(folder / "fifo" / "model.skops")
    cases = {
        "payload": (*planted("payload", pickle.dumps(WritesSentinel(sentinel))), "UntrustedArtifact"),
        "untrusted-type": (*planted("untrusted", secret.data), "UntrustedArtifact"),
        "forged-schema": (*planted("forged", forged_skops_archive()), "UntrustedArtifact"),
        "dot-dot": (
            f"{STORE}/{namespace}/models/../../../{outside}/model.skops",
            secret.sha256,
            "ArtifactOutsideStore",
        ),
        "symlink": (f"{STORE}/{namespace}/models/{model}/linked/model.skops", secret.sha256, "ArtifactOutsideStore"),
        "other-bucket": (
            f"s3://not-the-store/{namespace}/models/{model}/model.skops",
            secret.sha256,
            "ArtifactOutsideStore",
        ),
        # a sound, trusted artifact, but another namespace's: refused before it is read
        "other-namespace": (
            f"{STORE}/{namespace}-other/models/{model}/trusted/model.skops",
            trusted.sha256,
            "ArtifactOutsideStore",
        ),
        "fifo": (f"{STORE}/{namespace}/models/{model}/fifo/model.skops", "0" * 64, "ArtifactMissing"),
    }
    for name, (uri, sha, _) in cases.items():
        k.apply(model_version(name, model, uri, sha))

    for name, (_, _, reason) in cases.items():
        document = assert_refused(k, "modelversion", "ModelVersion", name, reason, timeout=60)
        assert condition(document, "ArtifactVerified")["status"] == "False"
    verified = condition(k.get_json("modelversion", "untrusted-type"), "ArtifactVerified")
    assert "sklearn.svm._classes.SVC" in verified["message"]
    assert not sentinel.exists(), "the pickle's payload ran"
    assert sorted(p.name for p in outside.iterdir()) == ["model.skops"]
    assert (outside / "model.skops").read_bytes() == secret.data
    assert not k.get_json("deployments")["items"], "a refused artifact must never be served"


def forged_skops_archive() -> bytes:
    """A zip with a schema.json that skops itself cannot read (it raised TypeError before)."""
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("schema.json", "{}")
    return buffer.getvalue()


# --- specs the API server accepts but the cluster cannot carry out ---------------------------


def test_a_run_whose_job_the_api_server_refuses_fails_with_a_reason(k: Kubectl):
    """Schema-valid but semantically wrong: requests above limits pass the CRD's quantity
    pattern, and only the API server's Job validation refuses them."""
    k.apply(dataset("iris", {"inline": {"rows": iris_rows()}}))
    wait_for(
        lambda: condition(k.get_json("dataset", "iris"), "Ready").get("status") == "True",
        timeout=120,
        message="a valid iris version",
    )
    run = training_run("greedy", "iris")
    run["spec"]["resources"] = {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}
    k.apply(run)
    document = assert_refused(k, "trainingrun", "TrainingRun", "greedy", "InvalidJob", timeout=60)
    assert condition(document, "Succeeded")["status"] == "False"
    assert "cpu" in condition(document, "Ready")["message"]
    assert not k.get_json("jobs", "-l", "app.kubernetes.io/component=training")["items"]
