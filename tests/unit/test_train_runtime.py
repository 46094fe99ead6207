"""`ballast train` end to end against a file:// store: artifact, metadata, termination message, exit code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sklearn.datasets import load_breast_cancer

from ballast.api.dataset import DatasetSpec
from ballast.cards.content import model_card
from ballast.cards.stored import read_card
from ballast.data import ingest_table
from ballast.models.skops_format import load_model
from ballast.runtime.train import (
    EXIT_FAILED,
    EXIT_FINISHED,
    EXIT_INVALID_DATA,
    EXIT_INVALID_SPEC,
    run_train,
)
from ballast.store import ArtifactStore
from ballast.training.report import TERMINATION_MESSAGE_LIMIT, fit_termination_message

FEATURES = ["mean radius", "mean texture", "mean smoothness", "mean concavity"]


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(f"file://{tmp_path / 'store'}")


@pytest.fixture
def dataset(store: ArtifactStore) -> dict[str, Any]:
    """A real snapshot of breast-cancer written by the ingest side, as the operator would pin it."""
    bunch = load_breast_cancer(as_frame=True)
    raw = bunch.frame[FEATURES + ["target"]].rename(columns=lambda c: c.replace(" ", "_"))
    schema = {
        "columns": [{"name": c, "type": "float"} for c in raw.columns if c != "target"]
        + [{"name": "target", "type": "integer"}],
        "target": "target",
    }
    spec = DatasetSpec.model_validate({"source": {"inline": {"rows": [{"x": 1}]}}, "schema": schema})
    record = ingest_table(store, "cancer", spec, raw, {"inline": True}, "2026-01-01T00:00:00Z")
    assert record.valid, record.violations
    return {"name": "cancer", "sha256": record.sha256, "snapshotUri": record.snapshot_uri, "schema": schema}


def _run(
    tmp_path: Path,
    store: ArtifactStore,
    inputs: dict[str, Any],
    env: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any], bytes]:
    run_json = tmp_path / "run.json"
    run_json.write_text(json.dumps(inputs))
    log = tmp_path / "termination-log"
    code = run_train(
        ["--run-json", str(run_json), "--store", store.uri, "--termination-log", str(log)], environ=env or {}
    )
    raw = log.read_bytes()
    return code, json.loads(raw), raw


def _inputs(dataset: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "trainingRun": {"namespace": "ml", "name": "cancer-1", "uid": "u-1"},
        "spec": {
            "model": "cancer",
            "datasetRef": {"name": "cancer"},
            "seed": 5,
            "estimator": "sklearn.ensemble.RandomForestClassifier",
            "params": {"n_estimators": 10},
            **spec,
        },
        "dataset": dataset,
    }


def test_a_passing_run_writes_the_artifact_and_metadata_and_reports(tmp_path, store, dataset) -> None:
    env = {"BALLAST_IMAGE": "ghcr.io/ballast/ballast:0.1.0", "BALLAST_IMAGE_DIGEST": "sha256:" + "c" * 64}
    code, result, raw = _run(
        tmp_path, store, _inputs(dataset, evaluation={"gates": {"minimums": {"accuracy": 0.5}}}), env
    )

    assert code == EXIT_FINISHED
    assert len(raw) <= TERMINATION_MESSAGE_LIMIT
    sha = result["artifact"]["sha256"]
    assert result["artifact"]["uri"] == f"{store.uri}/models/cancer/{sha}/model.skops"
    assert result["metadataUri"] == f"{store.uri}/models/cancer/{sha}/metadata.json"
    assert result["passed"] is True and "reason" not in result
    assert result["keyMetric"] == {"name": "accuracy", "value": result["metrics"]["accuracy"]}
    assert result["gates"] == [{"name": "minimum/accuracy", "passed": True, "message": result["gates"][0]["message"]}]
    assert result["reproducibility"]["imageDigest"] == env["BALLAST_IMAGE_DIGEST"]
    assert result["params"]["n_estimators"] == 10

    model = load_model(store.read_bytes(result["artifact"]["uri"]), sha)
    assert hasattr(model, "predict_proba")
    metadata = store.read_json(result["metadataUri"])
    assert metadata["lineage"]["dataset"] == {
        "name": "cancer",
        "sha256": dataset["sha256"],
        "snapshotUri": dataset["snapshotUri"],
    }
    assert metadata["lineage"]["trainingRun"] == {"namespace": "ml", "name": "cancer-1", "uid": "u-1"}
    assert metadata["reproducibility"]["datasetSha256"] == dataset["sha256"]
    assert metadata["reproducibility"]["params"]["random_state"] == 5
    assert metadata["metrics"] == result["metrics"]


def test_a_registered_model_gets_a_card_beside_it_pinned_by_its_metadata(tmp_path, store, dataset) -> None:
    dataset = {**dataset, "profileSha256": store.sha256_of(f"datasets/cancer/{dataset['sha256']}/profile.json")}
    inputs = {
        **_inputs(dataset, evaluation={"gates": {"minimums": {"accuracy": 0.5}}}),
        "card": {"intendedUse": "Second opinion for radiologists.", "limitations": "Four features only."},
    }
    code, result, _ = _run(tmp_path, store, inputs)
    assert code == EXIT_FINISHED and result["passed"] is True

    metadata = store.read_json(result["metadataUri"])
    markdown = read_card(store, result["artifact"]["uri"], metadata)
    card = json.loads(read_card(store, result["artifact"]["uri"], metadata, "json"))
    assert metadata["card"]["markdown"]["uri"] == result["artifact"]["uri"].replace("model.skops", "card.md")
    assert card == model_card({k: v for k, v in metadata.items() if k != "card"}).to_json()
    assert card["data"]["sha256"] == dataset["sha256"] and card["data"]["profile"]["rows"] == 569
    assert card["intendedUse"] == "Second opinion for radiologists."
    assert "## Limitations\n\nFour features only.\n" in markdown.decode()
    assert f"| accuracy | {result['metrics']['accuracy']:.6g} |" in markdown.decode()


def test_the_same_run_again_gives_the_same_artifact_and_keeps_the_first_metadata(tmp_path, store, dataset) -> None:
    first_code, first, _ = _run(tmp_path, store, _inputs(dataset))
    inputs = _inputs(dataset)
    inputs["trainingRun"]["name"] = "cancer-2"
    second_code, second, _ = _run(tmp_path, store, inputs)
    assert first_code == second_code == EXIT_FINISHED
    assert second["artifact"] == first["artifact"]
    assert store.read_json(second["metadataUri"])["lineage"]["trainingRun"]["name"] == "cancer-1"


def test_a_failed_gate_is_a_finished_run_with_the_gate_named(tmp_path, store, dataset) -> None:
    code, result, _ = _run(tmp_path, store, _inputs(dataset, evaluation={"gates": {"minimums": {"recall": 1.0}}}))
    assert code == EXIT_FINISHED
    assert result["passed"] is False and result["reason"] == "GateFailed"
    assert result["message"].startswith("gate minimum/recall failed: recall ")
    assert "(must be at least 1)" in result["message"]
    # The model is kept (and recorded) even though it is not promoted: the person can inspect it.
    assert store.exists(result["artifact"]["uri"])


def test_must_beat_champion_against_the_stored_champion(tmp_path, store, dataset) -> None:
    _, champion_result, _ = _run(
        tmp_path, store, _inputs(dataset, estimator="sklearn.tree.DecisionTreeClassifier", params={"max_depth": 1})
    )
    champion = {"modelVersion": "cancer-stump", **{k: champion_result["artifact"][k] for k in ("uri", "sha256")}}
    inputs = {**_inputs(dataset, evaluation={"gates": {"mustBeatChampion": True}}), "champion": champion}
    code, result, _ = _run(tmp_path, store, inputs)
    assert code == EXIT_FINISHED and result["passed"] is True, result
    metadata = store.read_json(result["metadataUri"])
    assert metadata["lineage"]["champion"]["modelVersion"] == "cancer-stump"


def test_an_altered_champion_fails_the_gate_with_digest_mismatch(tmp_path, store, dataset) -> None:
    _, champion_result, _ = _run(
        tmp_path, store, _inputs(dataset, estimator="sklearn.naive_bayes.GaussianNB", params={})
    )
    champion = {"uri": champion_result["artifact"]["uri"], "sha256": "d" * 64}
    inputs = {**_inputs(dataset, evaluation={"gates": {"mustBeatChampion": True}}), "champion": champion}
    code, result, _ = _run(tmp_path, store, inputs)
    assert code == EXIT_FINISHED and result["reason"] == "GateFailed"
    assert "DigestMismatch" in result["gates"][0]["message"]


def test_bad_params_exit_with_invalid_estimator_and_write_nothing(tmp_path, store, dataset) -> None:
    code, result, _ = _run(tmp_path, store, _inputs(dataset, params={"n_estimators": 0, "depth": 3}))
    assert code == EXIT_INVALID_SPEC
    assert result["passed"] is False and result["reason"] == "InvalidEstimator"
    assert "unknown parameter 'depth'" in result["message"] and "'n_estimators' parameter" in result["message"]
    assert not (Path(store.root.path) / "models").exists()


def test_a_dataset_whose_content_changed_is_a_data_error(tmp_path, store, dataset) -> None:
    code, result, _ = _run(tmp_path, store, _inputs({**dataset, "sha256": "e" * 64}))
    assert code == EXIT_INVALID_DATA
    assert result["reason"] == "InvalidData" and "DigestMismatch" in result["message"]


def test_unreadable_inputs_are_reported(tmp_path, store, dataset) -> None:
    code, result, _ = _run(tmp_path, store, {"spec": {"model": "cancer"}, "dataset": dataset})
    assert code == EXIT_INVALID_SPEC
    assert result["reason"] == "InvalidInput" and "spec.datasetRef" in result["message"]


def test_a_crash_still_leaves_a_message(tmp_path, store, dataset, monkeypatch) -> None:
    import ballast.runtime.train as runtime

    def explode(*_args, **_kwargs):
        raise MemoryError("out of memory while fitting")

    monkeypatch.setattr(runtime, "train_model", explode)
    code, result, _ = _run(tmp_path, store, _inputs(dataset))
    assert code == EXIT_FAILED
    assert result == {
        "passed": False,
        "reason": "TrainingFailed",
        "message": "MemoryError: out of memory while fitting",
    }


def test_a_huge_result_is_cut_to_the_kubelet_limit() -> None:
    result = {
        "artifact": {"uri": "file:///s/models/m/x/model.skops", "sha256": "f" * 64, "format": "skops"},
        "metadataUri": "file:///s/models/m/x/metadata.json",
        "metrics": {"accuracy": 0.9},
        "keyMetric": {"name": "accuracy", "value": 0.9},
        "passed": False,
        "reason": "GateFailed",
        "gates": [{"name": f"minimum/g{i}", "passed": False, "message": "x" * 500} for i in range(6)],
        "message": "y" * 5000,
        "params": {f"p{i}": "z" * 100 for i in range(100)},
        "reproducibility": {"packages": {f"pkg{i}": "1.0" for i in range(50)}},
    }
    encoded = fit_termination_message(result)
    assert len(encoded) <= TERMINATION_MESSAGE_LIMIT
    cut = json.loads(encoded)
    assert cut["params"] == {} and "params" in cut["truncated"]
    assert cut["artifact"] == result["artifact"] and cut["reason"] == "GateFailed"
    assert [g["name"] for g in cut["gates"]] == [g["name"] for g in result["gates"]]
