import json

import pytest

from ballast.api.annotations import METADATA_SHA256_ANNOTATION, TRAINING_SPEC_ANNOTATION
from ballast.commands.lineage import lineage_lines, read_recorded_source
from ballast.commands.reproduce import NotReproducible, reproduction_run, verdict
from ballast.commands.runs import runs_table
from ballast.store import METADATA_FILE, ArtifactStore, dataset_version_key

SHA_DATA, SHA_MODEL = "d" * 64, "f" * 64


def run(name, created, params, metrics, reason="Trained", model="iris"):
    return {
        "metadata": {"name": name, "creationTimestamp": created},
        "spec": {
            "model": model,
            "estimator": "sklearn.ensemble.RandomForestClassifier",
            "seed": 3,
            "params": params,
            "datasetRef": {"name": "iris"},
        },
        "status": {
            "datasetVersion": SHA_DATA,
            "metrics": metrics,
            "conditions": [
                {"type": "Succeeded", "status": "True" if reason == "Trained" else "False", "reason": reason}
            ],
        },
    }


def version(annotated=True):
    spec = {
        "model": "iris",
        "estimator": "sklearn.linear_model.LogisticRegression",
        "seed": 3,
        "datasetRef": {"name": "iris", "version": SHA_DATA},
        "modelVersionTemplate": {"rollout": {}},
    }
    annotations = {TRAINING_SPEC_ANNOTATION: json.dumps(spec)} if annotated else {}
    return {
        "metadata": {"name": "iris-ffffffffffff", "namespace": "ml", "annotations": annotations},
        "spec": {
            "model": "iris",
            "artifact": {"uri": f"file:///s/models/iris/{SHA_MODEL}/model.skops", "sha256": SHA_MODEL},
            "source": {"trainingRun": "iris-1", "dataset": {"name": "iris", "version": SHA_DATA}},
        },
        "status": {"stage": "Candidate"},
    }


def test_runs_are_compared_oldest_first_with_a_column_per_param_and_metric():
    table = runs_table(
        [
            run("b", "2026-01-02T00:00:00Z", {"n_estimators": 50}, {"accuracy": 0.9312, "f1": 0.9}),
            run("a", "2026-01-01T00:00:00Z", {"max_depth": 3}, {"accuracy": 0.8}, reason="GateFailed"),
            run("other", "2026-01-01T00:00:00Z", {}, {}, model="credit"),
        ],
        "iris",
    ).splitlines()
    assert table[0].split() == [
        "RUN",
        "RESULT",
        "ESTIMATOR",
        "DATASET-VERSION",
        "SEED",
        "param:max_depth",
        "param:n_estimators",
        "ACCURACY",
        "F1",
    ]
    assert table[1].split() == ["a", "GateFailed", "RandomForestClassifier", SHA_DATA[:12], "3", "3", "-", "0.8", "-"]
    assert table[2].split() == [
        "b",
        "Trained",
        "RandomForestClassifier",
        SHA_DATA[:12],
        "3",
        "-",
        "50",
        "0.9312",
        "0.9",
    ]
    assert len(table) == 3


def test_lineage_leads_from_the_dataset_source_to_the_artifact():
    dataset = {
        "spec": {"source": {"url": "https://data.example/iris.csv"}, "format": "csv"},
        "status": {
            "versions": [
                {
                    "sha256": SHA_DATA,
                    "rows": 150,
                    "createdAt": "2026-01-01T00:00:00Z",
                    "snapshotUri": "file:///s/datasets/iris/d/data.parquet",
                }
            ]
        },
    }
    text = "\n".join(lineage_lines(version(), None, dataset))
    assert text.index("https://data.example/iris.csv") < text.index(SHA_DATA) < text.index(SHA_MODEL)
    assert "150 rows" in text and "(deleted; inputs from the registry entry)" in text
    assert "sklearn.linear_model.LogisticRegression" in text


def test_reproduction_pins_everything_and_is_named_once():
    first, second = reproduction_run(version()), reproduction_run(version())
    assert first == second
    assert first["spec"]["datasetRef"]["version"] == SHA_DATA and first["spec"]["seed"] == 3
    assert "modelVersionTemplate" not in first["spec"]


def test_a_hand_registered_model_cannot_be_reproduced():
    with pytest.raises(NotReproducible, match="not trained by Ballast"):
        reproduction_run(version(annotated=False))


def test_verdict_compares_the_artifact_digest():
    same = {"metadata": {"name": "r"}, "status": {"artifact": {"sha256": SHA_MODEL}}}
    other = {"metadata": {"name": "r"}, "status": {"artifact": {"sha256": "0" * 64}}}
    assert verdict(version(), same)[0] is True
    assert verdict(version(), other)[0] is False


def stored_metadata(tmp_path, source: dict) -> tuple[ArtifactStore, str]:
    """A store whose version SHA_DATA of iris records `source`; the sha256 of its metadata.json."""
    store = ArtifactStore(f"file://{tmp_path / 'store'}")
    key = dataset_version_key("iris", SHA_DATA, METADATA_FILE)
    store.write_json_once(key, {"dataset": "iris", "sha256": SHA_DATA, "source": source, "format": "parquet"})
    return store, store.sha256_of(key)


def test_lineage_of_an_older_version_shows_the_source_its_metadata_records_not_the_current_one(tmp_path):
    store, digest = stored_metadata(tmp_path, {"kind": "url", "url": "https://data.example/iris-2025.csv"})
    current = {"spec": {"source": {"url": "https://data.example/iris-2026.csv"}, "format": "csv"}}
    registered = version()
    registered["metadata"]["annotations"][METADATA_SHA256_ANNOTATION] = digest
    recorded = read_recorded_source(store, registered)
    text = "\n".join(lineage_lines(registered, None, current, recorded))
    assert "https://data.example/iris-2025.csv (parquet)" in text
    assert "iris-2026" not in text
    assert text.index("iris-2025.csv") < text.index(SHA_DATA) < text.index(SHA_MODEL)


def test_lineage_says_when_the_source_shown_is_only_the_datasets_current_one(tmp_path):
    store, _ = stored_metadata(tmp_path, {"kind": "pvc", "claimName": "raw", "path": "iris.csv"})
    current = {"spec": {"source": {"url": "https://data.example/iris-2026.csv"}, "format": "csv"}}
    altered = version()
    altered["metadata"]["annotations"][METADATA_SHA256_ANNOTATION] = "0" * 64  # not these bytes
    text = "\n".join(lineage_lines(altered, None, current, read_recorded_source(store, altered)))
    assert "DigestMismatch" in text or "sha256" in text
    assert "the Dataset's source now" in text and "pvc raw" not in text
    without_store = "\n".join(lineage_lines(version(), None, current))
    assert "the Dataset's source now" in without_store and "--store" in without_store
    assert "pvc raw:/iris.csv (parquet)" in "\n".join(
        lineage_lines(version(), None, None, read_recorded_source(store, version()))
    )
