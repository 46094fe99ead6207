"""The model card as a pure function of metadata.json: what it states, and what it says it does not know."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from ballast.cards.content import model_card
from ballast.cards.markdown import render_markdown
from ballast.cards.stored import card_bytes, write_card
from ballast.cards.version_card import CardUnavailable, version_card
from ballast.store import ArtifactStore

SHA_MODEL = "a" * 64
SHA_DATA = "b" * 64
SHA_PROFILE = "c" * 64


def metadata(**changes: Any) -> dict[str, Any]:
    """metadata.json as ballast.training.report writes it, for a fairness-gated classifier."""
    document = {
        "model": "credit",
        "artifact": {"uri": f"file:///s/models/credit/{SHA_MODEL}/model.skops", "sha256": SHA_MODEL},
        "lineage": {
            "trainingRun": {"namespace": "ml", "name": "credit-7", "uid": "u"},
            "dataset": {"name": "loans", "sha256": SHA_DATA, "snapshotUri": "file:///s/datasets/loans/data.parquet"},
            "champion": {"modelVersion": "credit-0123456789ab", "uri": "file:///s/m.skops", "sha256": "d" * 64},
        },
        "estimator": "sklearn.linear_model.LogisticRegression",
        "task": "classification",
        "features": {"numeric": ["income"], "categorical": ["region"], "target": "default"},
        "classes": [0, 1],
        "metrics": {"accuracy": 0.91, "demographic_parity_difference": 0.04, "equal_opportunity_difference": 0.02},
        "skippedMetrics": {"roc_auc": "one class in the test split"},
        "errorRates": {"0": {"falsePositive": 0.12, "falseNegative": 0.05}, "1": {"falsePositive": 0.05}},
        "keyMetric": {"name": "accuracy", "value": 0.91},
        "gates": [
            {"name": "fairness/demographic_parity_difference", "passed": True, "message": "0.04 <= 0.1 | ok"},
            {"name": "mustBeatChampion", "passed": True, "message": "accuracy 0.91 > champion's 0.88"},
        ],
        "passed": True,
        "params": {"C": 1.0, "class_weight": None, "solver": "lbfgs"},
        "reproducibility": {
            "seed": 3,
            "testFraction": 0.25,
            "datasetProfileSha256": SHA_PROFILE,
            "ballastVersion": "0.1.0",
            "codeVersion": "0.1.0",
            "pythonVersion": "3.11.7",
            "packages": {"scikit-learn": "1.9.1"},
            "image": "ghcr.io/ballast/ballast:0.1.0",
            "imageDigest": None,
        },
        "rows": {"train": 750, "test": 250, "droppedWithoutTarget": 3},
        "datasetProfile": {
            "rows": 1003,
            "target": "default",
            "columns": {
                "income": {"type": "float", "role": "feature", "count": 1000, "nulls": 3, "min": 1.0, "max": 9.5},
                "region": {"type": "category", "role": "feature", "count": 1003, "nulls": 0, "distinct": 4},
            },
        },
        "featurePipeline": [
            {
                "name": "numeric",
                "columns": ["income"],
                "steps": [
                    {"name": "impute", "class": "sklearn.impute.SimpleImputer", "params": {"strategy": "median"}}
                ],
            }
        ],
        "fairness": {
            "sensitiveFeature": "region",
            "metrics": {"demographic_parity_difference": 0.04},
            "unavailable": None,
        },
        "intendedUse": "Ranking applications for manual review.",
        "limitations": "Not validated outside the EU.",
    }
    document.update(changes)
    return document


def test_the_card_states_data_pipeline_params_metrics_fairness_gates_champion_and_notes():
    card = model_card(metadata())
    assert card.training_run == "credit-7"
    assert (card.data.dataset, card.data.sha256, card.data.profile_sha256) == ("loans", SHA_DATA, SHA_PROFILE)
    assert card.evaluation.test_rows == 250 and card.evaluation.test_fraction == 0.25 and card.evaluation.stratified
    assert card.champion.model_version == "credit-0123456789ab" and card.champion.beaten is True
    assert card.fairness["sensitiveFeature"] == "region"

    text = render_markdown(card)
    assert "## Intended use\n\nRanking applications for manual review.\n" in text
    assert "## Limitations\n\nNot validated outside the EU.\n" in text
    assert f"- Version (sha256 of the canonical content): `{SHA_DATA}`" in text
    assert "| income | float | feature | 3 | 1 | 9.5 |" in text
    assert "| region | category | feature | 0 |  |  | 4 distinct |" in text
    assert '- numeric [income]: impute (sklearn.impute.SimpleImputer, {"strategy": "median"})' in text
    # A parameter left at None is a value the estimator had, not a gap in the record.
    assert "| class_weight | null |" in text and '| solver | "lbfgs" |' in text
    assert "250 test rows (0.25 of the labelled rows, stratified, seed 3), 750 training rows" in text
    assert "- roc_auc not computed: one class in the test split" in text
    assert "| class | false positive rate | false negative rate |" in text
    assert "| 0 | 0.12 | 0.05 |" in text
    assert "Sensitive feature: region, on the test split." in text
    assert "| demographic_parity_difference | 0.04 |" in text
    # A pipe in a gate's message must not open a new cell.
    assert "| fairness/demographic_parity_difference | passed | 0.04 <= 0.1 \\| ok |" in text
    assert "Outcome: passed." in text
    assert "Beat credit-0123456789ab on the same test split: accuracy 0.91 > champion's 0.88." in text


def test_the_same_record_gives_the_same_bytes_and_card_json_round_trips():
    first, second = card_bytes(model_card(metadata())), card_bytes(model_card(copy.deepcopy(metadata())))
    assert first == second
    document = json.loads(first["json"])
    assert document["format"] == "ballast-model-card-v1"
    assert document["intendedUse"] == "Ranking applications for manual review."
    assert document["champion"]["beaten"] is True and document["data"]["profile"]["rows"] == 1003


def test_what_an_older_record_lacks_the_card_says_it_does_not_know():
    old = metadata()
    for key in ("datasetProfile", "featurePipeline", "fairness", "intendedUse", "limitations"):
        del old[key]
    text = render_markdown(model_card(old))
    assert "not stated (set the TrainingRun annotation `ballast.dev/intended-use`)" in text
    assert "not stated (set the TrainingRun annotation `ballast.dev/limitations`)" in text
    assert "- Profile summary: not recorded" in text
    assert "Preprocessing: not recorded." in text
    assert "Not measured (the run set no fairness gate)." in text
    assert "false negative rate" not in render_markdown(model_card({**old, "errorRates": None}))
    assert json.loads(card_bytes(model_card(old))["json"])["intendedUse"] is None


def test_the_champion_statement_covers_first_versions_losses_and_no_comparison():
    lineage = metadata()["lineage"]
    first = model_card(metadata(lineage={**lineage, "champion": None}))
    assert first.champion.beaten is None and first.champion.statement.startswith("No champion: it was the first")

    lost = metadata(gates=[{"name": "mustBeatChampion", "passed": False, "message": "0.80 <= 0.88"}], passed=False)
    assert (
        model_card(lost).champion.statement == "Did not beat credit-0123456789ab on the same test split: 0.80 <= 0.88"
    )
    assert "Outcome: failed." in render_markdown(model_card(lost))

    unchecked = model_card(metadata(gates=[], lineage={**lineage, "champion": None}))
    assert unchecked.champion.statement == "Not compared with a champion (the run did not set mustBeatChampion)"


def stored_version(tmp_path, **changes: Any) -> tuple[ArtifactStore, dict[str, Any]]:
    """A version's artifact directory as the training pod leaves it, and its ModelVersion."""
    store = ArtifactStore(f"file://{tmp_path / 'store'}")
    artifact_key = f"models/credit/{SHA_MODEL}/model.skops"
    document = metadata(**changes)
    document["artifact"]["uri"] = store.write_bytes_once(artifact_key, b"model bytes")
    document["card"] = write_card(store, artifact_key, model_card(document))
    store.write_json_once(f"models/credit/{SHA_MODEL}/metadata.json", document)
    version = {
        "metadata": {"name": "credit-aaaaaaaaaaaa"},
        "spec": {"artifact": {"uri": document["artifact"]["uri"], "sha256": SHA_MODEL}},
    }
    return store, version


def test_ballast_card_prints_the_stored_card_in_either_form(tmp_path):
    store, version = stored_version(tmp_path)
    markdown = version_card(store, version)
    assert markdown == (tmp_path / "store" / "models" / "credit" / SHA_MODEL / "card.md").read_bytes()
    assert markdown.startswith(b"# Model card: credit\n") and f"- Artifact: {store.uri}/models/".encode() in markdown
    assert json.loads(version_card(store, version, "json"))["intendedUse"] == "Ranking applications for manual review."


def test_ballast_card_refuses_an_altered_or_missing_card_and_foreign_metadata(tmp_path):
    store, version = stored_version(tmp_path)
    path = tmp_path / "store" / "models" / "credit" / SHA_MODEL / "card.md"
    path.chmod(0o644)
    path.write_text("# Model card: credit\n\nApproved for everything.\n")
    with pytest.raises(CardUnavailable, match=r"\(DigestMismatch\)"):
        version_card(store, version)
    path.unlink()
    with pytest.raises(CardUnavailable, match=r"\(ArtifactMissing\)"):
        version_card(store, version)
    other = {**version, "spec": {"artifact": {**version["spec"]["artifact"], "sha256": "e" * 64}}}
    with pytest.raises(CardUnavailable, match="does not describe credit-aaaaaaaaaaaa's artifact"):
        version_card(store, other, "json")


def test_card_is_a_verb_of_kubectl_ballast_and_of_ballast_with_kubectls_flags():
    from click.testing import CliRunner

    from ballast import cli
    from ballast.plugin import plugin

    assert cli.main.commands["card"] is plugin.commands["card"]
    shown = CliRunner().invoke(plugin, ["card", "--help"])
    assert shown.exit_code == 0, shown.output
    for flag in ("--kubeconfig", "--context", "--namespace", "--store", "markdown|json"):
        assert flag in shown.output
