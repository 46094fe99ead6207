"""Datasets, training and the registry on the real local cluster: every ingest and training
runs as a Job whose pod runs Ballast's image on the real node, through the real Job controller."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from ballast.build.naming import DATASET_SOURCE_LABEL
from ballast.build.security import (
    DEFAULT_USER_ID,
    restricted_container_security_context,
    restricted_pod_security_context,
)
from ballast.cards.annotations import INTENDED_USE_ANNOTATION
from tests.support import shifting
from tests.support.ballast_objects import (
    IRIS_COLUMNS,
    condition,
    dataset,
    iris_csv,
    iris_rows,
    run_ballast,
    run_ballast_on_store,
    training_run,
    wait_for_condition,
)
from tests.support.image import ballast_image
from tests.support.kube import Kubectl, shared_store_dir, wait_for

# The tests' own helper pods, like Ballast's, must pass the namespaces' "restricted" Pod Security.
POD_SECURITY = {"securityContext": restricted_pod_security_context()}
CONTAINER_SECURITY = {"securityContext": restricted_container_security_context()}
# what makes a claim usable as a Dataset's pvc source (ballast.build.policy)
SOURCE_LABEL = {DATASET_SOURCE_LABEL: "true"}


def _http_server_pod(name: str, configmap: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            **POD_SECURITY,
            "containers": [
                {
                    **CONTAINER_SECURITY,
                    "name": "http",
                    "image": ballast_image(),
                    "command": ["python3", "-m", "http.server", "8000", "--directory", "/srv"],
                    "ports": [{"containerPort": 8000}],
                    "readinessProbe": {"tcpSocket": {"port": 8000}, "periodSeconds": 1},
                    "volumeMounts": [{"name": "data", "mountPath": "/srv"}],
                }
            ],
            "volumes": [{"name": "data", "configMap": {"name": configmap}}],
        },
    }


def _ready_pod_ip(k: Kubectl, name: str) -> str:
    return wait_for(
        lambda: (
            k.get_json("pod", name)["status"].get("podIP")
            if condition(k.get_json("pod", name), "Ready").get("status") == "True"
            else None
        ),
        timeout=60,
        message=f"the pod {name} ready",
    )


def _serve_iris_csv(k: Kubectl) -> str:
    """An HTTP server pod answering /iris.csv; its address."""
    k.run("create", "configmap", "iris", "--from-literal=iris.csv=" + iris_csv())
    k.apply(_http_server_pod("iris-http", "iris"))
    return _ready_pod_ip(k, "iris-http")


COPY_IRIS = (
    "import os, shutil; os.makedirs('/out/data', exist_ok=True); shutil.copy('/in/iris.csv', '/out/data/iris.csv')"
)


def _copy_to_claim_pod(name: str, configmap: str, claim: str, script: str = COPY_IRIS) -> dict:
    """A pod running `script` with the ConfigMap at /in and the claim at /out."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            **POD_SECURITY,
            "restartPolicy": "Never",
            "containers": [
                {
                    **CONTAINER_SECURITY,
                    "name": "copy",
                    "image": ballast_image(),
                    "command": ["python3", "-c", script],
                    "volumeMounts": [{"name": "in", "mountPath": "/in"}, {"name": "out", "mountPath": "/out"}],
                }
            ],
            "volumes": [
                {"name": "in", "configMap": {"name": configmap}},
                {"name": "out", "persistentVolumeClaim": {"claimName": claim}},
            ],
        },
    }


@pytest.fixture
def k(kubectl: Kubectl, namespace: str, ballast_operator) -> Kubectl:
    return kubectl.in_namespace(namespace)


def _valid_version(k: Kubectl, name: str) -> dict:
    document = wait_for_condition(k, "dataset", name, "Ready", timeout=120)
    ready = condition(document, "Ready")
    assert ready["status"] == "True", ready
    return document


def _wide_inline_dataset(name: str, rows: int, digits: int, features: int = 30) -> tuple[dict, int]:
    """Float features and the species (31 columns, as in the report that found the limit);
    the spec's size as compact JSON."""
    features = [{"name": f"feature_{c:02d}", "type": "float"} for c in range(features)]
    species = ("setosa", "versicolor", "virginica")
    values = [
        {**{f["name"]: round(1 + r / 7 + c / 1000, digits) for c, f in enumerate(features)}, "species": species[r % 3]}
        for r in range(rows)
    ]
    body = dataset(name, {"inline": {"rows": values}}, columns=[*features, IRIS_COLUMNS[-1]])
    return body, len(json.dumps(body["spec"], separators=(",", ":")))


def test_inline_rows_over_the_kernels_limit_for_one_variable_are_ingested(k: Kubectl):
    """284 rows x 31 columns, ~240 KB: over the 128 KiB the kernel allows one environment
    variable, which is how the rows once reached the pod (it then never started)."""
    body, size = _wide_inline_dataset("wide", 284, digits=12)
    assert 230_000 < size < 260_000, size
    k.apply(body)
    document = _valid_version(k, "wide")
    assert document["status"]["latestRows"] == 284


def test_inline_rows_too_large_to_reach_the_pod_are_refused_naming_the_field(k: Kubectl):
    body, size = _wide_inline_dataset("too-wide", 1000, digits=14, features=20)
    assert 512 * 1024 < size < 700_000, size
    k.apply(body)
    document = wait_for_condition(k, "dataset", "too-wide", "Ready", timeout=60)
    ready = condition(document, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "InlineDataTooLarge"), ready
    assert ready["message"].startswith("spec.source.inline.rows:")
    assert k.get_json("jobs")["items"] == []


def test_inline_url_and_pvc_sources_become_the_same_valid_version(k: Kubectl, namespace: str):
    k.run("create", "configmap", "iris", "--from-literal=iris.csv=" + iris_csv())
    k.apply(_http_server_pod("iris-http", "iris"))
    k.apply(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "raw", "labels": SOURCE_LABEL},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Mi"}}},
        }
    )
    k.apply(_copy_to_claim_pod("fill-raw", "iris", "raw"))
    wait_for(
        lambda: k.get_json("pod", "fill-raw")["status"].get("phase") == "Succeeded",
        timeout=60,
        message="the copy into the claim",
    )
    pod_ip = _ready_pod_ip(k, "iris-http")

    k.apply(dataset("from-inline", {"inline": {"rows": iris_rows()}}))
    k.apply(dataset("from-url", {"url": f"http://{pod_ip}:8000/iris.csv"}))
    k.apply(dataset("from-pvc", {"pvc": {"claimName": "raw", "path": "data/iris.csv"}}))

    shas = {
        name: _valid_version(k, name)["status"]["latestVersion"] for name in ("from-inline", "from-url", "from-pvc")
    }
    assert len(set(shas.values())) == 1, shas
    versions = k.get_json("dataset", "from-url")["status"]["versions"]
    assert versions[0]["rows"] == 150 and versions[0]["valid"] is True
    # every artifact of the namespace lives under its own prefix of the store
    assert versions[0]["snapshotUri"].startswith(f"file:///var/lib/ballast/{namespace}/datasets/from-url/")
    snapshot = shared_store_dir() / versions[0]["snapshotUri"].removeprefix("file:///var/lib/ballast/")
    assert snapshot.is_file()
    # the Job is cleaned up once its result is recorded
    wait_for(
        lambda: not k.get_json("jobs", "-l", "app.kubernetes.io/component=ingest")["items"],
        timeout=30,
        message="finished ingest Jobs removed",
    )


def test_a_pvc_source_names_only_a_labelled_claim_and_never_the_stores(k: Kubectl):
    """Row 11 of issue 12: anything else is refused with a reason naming the field, and no Job."""
    k.apply(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "unlabelled"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Mi"}}},
        }
    )
    k.apply(dataset("from-unlabelled", {"pvc": {"claimName": "unlabelled", "path": "data/iris.csv"}}))
    k.apply(dataset("from-the-store", {"pvc": {"claimName": "ballast-artifacts", "path": "x/datasets/y.csv"}}))
    k.apply(dataset("with-a-secret", {"objectStore": {"uri": "s3://bucket/iris.csv", "secretRef": {"name": "absent"}}}))
    for name, field in (
        ("from-unlabelled", "spec.source.pvc.claimName"),
        ("from-the-store", "spec.source.pvc.claimName"),
        ("with-a-secret", "spec.source.objectStore.secretRef.name"),
    ):
        ready = condition(wait_for_condition(k, "dataset", name, "Ready", statuses=("False",), timeout=60), "Ready")
        assert ready["reason"] == "SourceNotAllowed" and field in ready["message"], ready
    assert not k.get_json("jobs", "-l", "app.kubernetes.io/component=ingest")["items"]


def test_invalid_data_lists_every_reason_and_is_never_trained_on(k: Kubectl):
    rows = [dict(row) for row in iris_rows()[:6]]
    rows[0]["sepal_length"] = "abc"
    for row in rows[1:4]:
        row["petal_width"] = None
    k.apply(dataset("broken", {"inline": {"rows": rows}}, min_rows=50, max_null_fraction=0.2))
    document = wait_for_condition(k, "dataset", "broken", "Ready", timeout=120)
    ready = condition(document, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "InvalidData")
    assert "latestVersion" not in document["status"]
    [version] = document["status"]["versions"]
    violations = " | ".join(version["violations"])
    assert version["valid"] is False
    # the column and how many, never the value: a violation must not carry the data into status
    assert "column sepal_length: 1 value is not" in violations and "abc" not in violations
    assert "column petal_width: 3 values are missing" in violations
    assert "50" in violations  # too few rows: the bound is named
    events = k.get_json("events", "--field-selector", "involvedObject.name=broken,reason=InvalidData")
    assert events["items"]

    k.apply(training_run("on-broken", "broken", version=version["sha256"]))
    run = wait_for_condition(k, "trainingrun", "on-broken", "Succeeded", timeout=60)
    succeeded = condition(run, "Succeeded")
    assert (succeeded["status"], succeeded["reason"]) == ("False", "DatasetVersionInvalid")
    assert not k.get_json("jobs", "-l", "app.kubernetes.io/component=training")["items"]


def test_a_run_trains_passes_its_gates_and_registers_a_verified_model_version(k: Kubectl):
    k.apply(dataset("iris", {"inline": {"rows": iris_rows()}}))
    data_sha = _valid_version(k, "iris")["status"]["latestVersion"]
    run = training_run("iris-logreg", "iris", params={"C": 1.0, "max_iter": 500}, gates={"minimums": {"accuracy": 0.8}})
    run["metadata"]["annotations"] = {INTENDED_USE_ANNOTATION: "Teaching the iris species apart."}
    k.apply(run)
    run = wait_for_condition(k, "trainingrun", "iris-logreg", "Succeeded")
    succeeded = condition(run, "Succeeded")
    assert (succeeded["status"], succeeded["reason"]) == ("True", "Trained"), succeeded
    status = run["status"]
    assert status["datasetVersion"] == data_sha
    assert status["metrics"]["accuracy"] >= 0.8
    assert {"accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"} <= set(status["metrics"])
    assert status["params"]["C"] == 1.0 and status["params"]["max_iter"] == 500
    assert status["reproducibility"]["seed"] == 7

    name = status["modelVersion"]
    version = wait_for_condition(k, "modelversion", name, "Ready", timeout=60)
    assert condition(version, "Ready")["status"] == "True", condition(version, "Ready")
    assert version["spec"]["artifact"]["sha256"] == status["artifact"]["sha256"]
    assert version["spec"]["source"] == {"trainingRun": "iris-logreg", "dataset": {"name": "iris", "version": data_sha}}
    assert "ownerReferences" not in version["metadata"]
    assert version["status"]["stage"] == "Candidate"
    assert version["status"]["metrics"]["accuracy"] == status["metrics"]["accuracy"]

    lineage = run_ballast(k, "lineage", name)
    assert lineage.index(data_sha) < lineage.index(version["spec"]["artifact"]["sha256"])
    table = run_ballast(k, "runs", "iris")
    assert "iris-logreg" in table and "param:C" in table

    # the registered version has its model card, as metadata.json pins it
    card = run_ballast_on_store(k.kubeconfig, "card", name, "-n", k.namespace)
    assert card.returncode == 0, card.stderr
    assert card.stdout.startswith("# Model card: iris\n")
    assert "## Intended use\n\nTeaching the iris species apart.\n" in card.stdout
    assert f"- Version (sha256 of the canonical content): `{data_sha}`" in card.stdout
    assert "| minimum/accuracy | passed |" in card.stdout


def test_a_failed_gate_says_which_and_bad_params_are_refused_before_fitting(k: Kubectl):
    k.apply(dataset("iris", {"inline": {"rows": iris_rows()}}))
    _valid_version(k, "iris")
    k.apply(
        training_run(
            "stump",
            "iris",
            estimator="sklearn.tree.DecisionTreeClassifier",
            params={"max_depth": 1},
            gates={"minimums": {"accuracy": 0.99}},
        )
    )
    k.apply(training_run("typo", "iris", estimator="sklearn.tree.DecisionTreeClassifier", params={"max_depthh": 3}))
    stump = condition(wait_for_condition(k, "trainingrun", "stump", "Succeeded"), "Succeeded")
    assert (stump["status"], stump["reason"]) == ("False", "GateFailed")
    assert "accuracy" in stump["message"] and "0.99" in stump["message"]
    typo = condition(wait_for_condition(k, "trainingrun", "typo", "Succeeded"), "Succeeded")
    assert (typo["status"], typo["reason"]) == ("False", "InvalidEstimator")
    assert "max_depthh" in typo["message"]
    assert not k.get_json("modelversions")["items"]


def test_the_same_spec_gives_the_same_artifact_and_reproduce_confirms_it(k: Kubectl):
    k.apply(dataset("iris", {"inline": {"rows": iris_rows()}}))
    _valid_version(k, "iris")
    for name in ("forest-a", "forest-b"):
        k.apply(
            training_run(
                name,
                "iris",
                estimator="sklearn.ensemble.RandomForestClassifier",
                params={"n_estimators": 20, "max_depth": 4},
            )
        )
    runs = [wait_for_condition(k, "trainingrun", name, "Succeeded") for name in ("forest-a", "forest-b")]
    shas = {run["status"]["artifact"]["sha256"] for run in runs}
    assert len(shas) == 1, shas
    assert runs[0]["status"]["modelVersion"] == runs[1]["status"]["modelVersion"]
    assert len(k.get_json("modelversions")["items"]) == 1

    output = run_ballast(k, "reproduce", runs[0]["status"]["modelVersion"], "--timeout", "240")
    assert "reproduced:" in output and shas.pop() in output


def test_killing_the_operator_while_a_job_runs_leaves_one_job_and_one_model_version(k: Kubectl, ballast_operator):
    k.apply(dataset("iris", {"inline": {"rows": iris_rows()}}))
    _valid_version(k, "iris")
    k.apply(
        training_run(
            "survivor", "iris", estimator="sklearn.ensemble.GradientBoostingClassifier", params={"n_estimators": 30}
        )
    )
    wait_for(
        lambda: k.get_json("jobs", "-l", "app.kubernetes.io/instance=survivor")["items"],
        timeout=60,
        message="the training Job",
    )
    ballast_operator.kill()
    ballast_operator.start()
    run = wait_for_condition(k, "trainingrun", "survivor", "Succeeded")
    assert condition(run, "Succeeded")["status"] == "True"
    assert len(k.get_json("jobs", "-l", "app.kubernetes.io/instance=survivor")["items"]) == 1
    assert len(k.get_json("modelversions")["items"]) == 1


def test_objects_created_while_the_operator_is_down_get_each_event_once(k: Kubectl, namespace: str, ballast_operator):
    """Two reconciles deciding on the same status post the same Events: kopf ran an object's
    create handler and its timer's first tick at the same moment. One reconcile at a time per
    object, on the object as it is now, posts each once, whether the object was created while
    the operator ran or while it was down."""
    from sklearn.linear_model import LogisticRegression

    from ballast.models.skops_format import serialize_model

    model = serialize_model(LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1]))
    relative = f"{namespace}/models/once-{namespace}/{model.sha256}/model.skops"
    path = shared_store_dir() / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.data)
    # the namespace's part of the store stays the pods' (uid 65532): the ingest writes there too
    for folder in (shared_store_dir() / namespace, *(shared_store_dir() / namespace).rglob("*")):
        os.chown(folder, DEFAULT_USER_ID, DEFAULT_USER_ID)
    ballast_operator.kill()
    try:
        k.apply(dataset("once", {"inline": {"rows": iris_rows()}}))
        k.apply(
            {
                "apiVersion": "ballast.dev/v1alpha1",
                "kind": "ModelVersion",
                "metadata": {"name": "once"},
                "spec": {
                    "model": f"once-{namespace}",
                    "artifact": {"uri": f"file:///var/lib/ballast/{relative}", "sha256": model.sha256},
                },
            }
        )
    finally:
        ballast_operator.start()
    # and one created while it runs: kopf ran its create handler and its first timer tick at once
    policy = shifting.drift_policy(shifting.training_spec())
    k.apply(policy)
    version = wait_for_condition(k, "modelversion", "once", "Ready", timeout=60)
    assert condition(version, "Ready")["status"] == "True", condition(version, "Ready")
    _valid_version(k, "once")

    # Unknown while the model has no Production version to watch
    wait_for_condition(k, "driftpolicy", policy["metadata"]["name"], "Ready", statuses=("Unknown",), timeout=60)

    def reasons(kind: str, name: str) -> list[str]:
        events = k.get_json("events", "--field-selector", f"involvedObject.kind={kind},involvedObject.name={name}")
        return sorted(event["reason"] for event in events["items"] for _ in range(event.get("count") or 1))

    for kind, name in (("ModelVersion", "once"), ("Dataset", "once"), ("DriftPolicy", policy["metadata"]["name"])):
        posted = reasons(kind, name)
        assert posted and len(posted) == len(set(posted)), f"{kind}: {posted}"


def test_an_artifact_altered_after_registration_loses_ready_with_digest_mismatch(k: Kubectl, namespace: str):
    from sklearn.linear_model import LogisticRegression

    from ballast.models.skops_format import serialize_model

    model = serialize_model(LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1]))
    relative = f"{namespace}/models/tamper-{namespace}/{model.sha256}/model.skops"
    path = shared_store_dir() / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.data)
    pickle_path = shared_store_dir() / f"{namespace}/models/tamper-{namespace}/pickled/model.skops"
    pickle_path.parent.mkdir(parents=True, exist_ok=True)
    pickle_path.write_bytes(b"\x80\x04\x95" + b"cos\nsystem\n")  # a pickle's opening bytes: never loaded

    def register(name: str, uri: str, sha: str) -> None:
        k.apply(
            {
                "apiVersion": "ballast.dev/v1alpha1",
                "kind": "ModelVersion",
                "metadata": {"name": name},
                "spec": {"model": f"tamper-{namespace}", "artifact": {"uri": uri, "sha256": sha}},
            }
        )

    register("good", f"file:///var/lib/ballast/{relative}", model.sha256)
    register("missing", f"file:///var/lib/ballast/{namespace}/models/tamper-{namespace}/nothing/model.skops", "1" * 64)
    register(
        "pickled",
        f"file:///var/lib/ballast/{namespace}/models/tamper-{namespace}/pickled/model.skops",
        hashlib.sha256(pickle_path.read_bytes()).hexdigest(),
    )
    good = wait_for_condition(k, "modelversion", "good", "Ready", timeout=60)
    assert condition(good, "Ready")["status"] == "True", condition(good, "Ready")
    for name, reason in (("missing", "ArtifactMissing"), ("pickled", "UntrustedArtifact")):
        ready = condition(wait_for_condition(k, "modelversion", name, "Ready", timeout=60), "Ready")
        assert (ready["status"], ready["reason"]) == ("False", reason), ready

    path.write_bytes(model.data + b"tampered")
    wait_for(
        lambda: condition(k.get_json("modelversion", "good"), "Ready").get("reason") == "DigestMismatch",
        timeout=60,
        message="DigestMismatch after the artifact changed",
    )
    assert condition(k.get_json("modelversion", "good"), "Ready")["status"] == "False"


def _write_to_claim_pod(name: str, claim: str, rows: int) -> dict:
    """A pod that writes the first `rows` rows of iris (from a ConfigMap) into the claim."""
    script = (
        "import os; lines = open('/in/iris.csv').read().splitlines(True); "
        f"os.makedirs('/out/data', exist_ok=True); open('/out/data/iris.csv', 'w').writelines(lines[:{rows + 1}])"
    )
    pod = _copy_to_claim_pod(name, "iris", claim)
    pod["spec"]["containers"][0]["command"] = ["python3", "-c", script]
    return pod


def test_refresh_makes_a_new_version_only_when_the_content_changes(k: Kubectl):
    k.run("create", "configmap", "iris", "--from-literal=iris.csv=" + iris_csv())
    k.apply(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "raw", "labels": SOURCE_LABEL},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Mi"}}},
        }
    )

    def write(name: str, rows: int) -> None:
        k.apply(_write_to_claim_pod(name, "raw", rows))
        wait_for(
            lambda: k.get_json("pod", name)["status"].get("phase") == "Succeeded", timeout=60, message=f"pod {name}"
        )

    write("first", 120)
    document = dataset("daily", {"pvc": {"claimName": "raw", "path": "data/iris.csv"}})
    document["spec"]["refreshInterval"] = "2s"
    k.apply(document)
    first = _valid_version(k, "daily")["status"]["latestVersion"]

    def refreshed_at_least(count: int) -> dict | None:
        """The status once `count` refreshes have finished. The next refresh starts the moment one
        finishes when an ingest outlasts the interval, so a finished one may show only as its
        successor's start."""
        status = k.get_json("dataset", "daily")["status"]
        ingest = status.get("ingest") or {}
        refresh = ingest.get("refresh", 0)
        return status if refresh > count or (refresh == count and ingest.get("finishedAt")) else None

    unchanged = wait_for(lambda: refreshed_at_least(1), timeout=60, message="a refresh of unchanged content")
    assert [v["sha256"] for v in unchanged["versions"]] == [first]

    write("second", 150)
    changed = wait_for(
        lambda: (lambda s: s if s.get("latestVersion") != first else None)(k.get_json("dataset", "daily")["status"]),
        timeout=60,
        message="a new version after the content changed",
    )
    assert [v["sha256"] for v in changed["versions"]] == [changed["latestVersion"], first]
    assert changed["latestRows"] == 150
