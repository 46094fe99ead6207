"""Gates pass and fail with messages naming the value and the bound; the champion is beaten or not."""

from __future__ import annotations

from ballast.api.trainingrun import Gates
from ballast.models.skops_format import load_model
from ballast.training import train_model
from ballast.training.gates import ChampionScore, champion_gate, evaluate_gates, fairness_gate, minimum_gate
from tests.unit.test_training_run import DATASET, breast_cancer, diabetes, mixed_classification, spec


def test_a_minimum_passes_when_reached() -> None:
    gate = minimum_gate("accuracy", 0.9, {"accuracy": 0.95}, {})
    assert gate.passed
    assert gate.name == "minimum/accuracy"
    assert gate.message == "accuracy 0.95 >= 0.9 (must be at least 0.9)"


def test_a_minimum_fails_below_the_bound() -> None:
    gate = minimum_gate("f1", 0.8, {"f1": 0.75}, {})
    assert not gate.passed
    assert gate.message == "f1 0.75 < 0.8 (must be at least 0.8)"


def test_a_lower_is_better_minimum_is_an_upper_bound() -> None:
    assert minimum_gate("rmse", 50.0, {"rmse": 48.5}, {}).passed
    failed = minimum_gate("rmse", 50.0, {"rmse": 51.25}, {})
    assert not failed.passed
    assert failed.message == "rmse 51.25 > 50 (must be at most 50)"


def test_a_metric_that_was_not_computed_fails_its_gate_with_the_reason() -> None:
    gate = minimum_gate("roc_auc", 0.8, {"accuracy": 1.0}, {"roc_auc": "the model has no predict_proba"})
    assert not gate.passed
    assert gate.message == "roc_auc was not computed (the model has no predict_proba); bound 0.8"


def test_fairness_gates_are_maxima() -> None:
    assert fairness_gate("demographic_parity_difference", 0.2, {"demographic_parity_difference": 0.1}, None).passed
    failed = fairness_gate("equal_opportunity_difference", 0.05, {"equal_opportunity_difference": 0.125}, None)
    assert not failed.passed
    assert failed.message == "equal_opportunity_difference 0.125 > 0.05 (must be at most 0.05)"


def test_champion_gate_compares_the_primary_metric_in_its_direction() -> None:
    assert champion_gate("accuracy", {"accuracy": 0.91}, ChampionScore(0.9)).passed
    assert not champion_gate("accuracy", {"accuracy": 0.9}, ChampionScore(0.9)).passed  # a tie does not win
    lower = champion_gate("rmse", {"rmse": 40.0}, ChampionScore(45.0))
    assert lower.passed and lower.message == "rmse 40 beats the champion's 45 on the same test split (lower is better)"
    unusable = champion_gate("accuracy", {"accuracy": 0.9}, ChampionScore(None, "DigestMismatch: altered"))
    assert not unusable.passed and "DigestMismatch: altered" in unusable.message


def test_no_gates_means_no_results_and_a_pass() -> None:
    assert evaluate_gates(None, "accuracy", {}, {}, {}, None, None) == []


def test_gates_are_reported_in_a_stable_order() -> None:
    gates = Gates.model_validate({"minimums": {"recall": 0.1, "accuracy": 0.1}, "mustBeatChampion": True})
    names = [g.name for g in evaluate_gates(gates, "accuracy", {"accuracy": 0.9, "recall": 0.9}, {}, {}, None, None)]
    assert names == ["minimum/accuracy", "minimum/recall", "mustBeatChampion"]


def test_a_run_fails_the_gate_it_cannot_reach() -> None:
    frame, schema = breast_cancer()
    outcome = train_model(
        spec("sklearn.naive_bayes.GaussianNB", {}, gates={"minimums": {"accuracy": 0.999, "log_loss": 5.0}}),
        frame,
        schema,
        DATASET,
    )
    assert not outcome.passed
    [failed] = outcome.failed_gates
    assert failed.name == "minimum/accuracy"
    assert f"accuracy {outcome.metrics['accuracy']:.6g} < 0.999" in failed.message


def _champion(estimator: str, params: dict, frame, schema):
    trained = train_model(spec(estimator, params), frame, schema, DATASET)
    return load_model(trained.artifact.data, trained.artifact.sha256), trained


def test_must_beat_champion_passes_against_a_weaker_champion_and_fails_against_a_stronger_one() -> None:
    frame, schema = breast_cancer()
    weak, _ = _champion("sklearn.tree.DecisionTreeClassifier", {"max_depth": 1}, frame, schema)
    strong, _ = _champion("sklearn.linear_model.LogisticRegression", {"C": 1.0}, frame, schema)
    challenger = spec(
        "sklearn.ensemble.RandomForestClassifier", {"n_estimators": 5, "max_depth": 3}, gates={"mustBeatChampion": True}
    )

    against_weak = train_model(challenger, frame, schema, DATASET, champion=weak)
    against_strong = train_model(challenger, frame, schema, DATASET, champion=strong)

    assert against_weak.passed, against_weak.gates
    assert not against_strong.passed, against_strong.gates
    assert "does not beat the champion's" in against_strong.gates[0].message
    # Same seed, same split: the challenger's own accuracy is the same in both runs.
    assert against_weak.metrics == against_strong.metrics


def test_must_beat_champion_uses_the_primary_metric() -> None:
    frame, schema = diabetes()
    champion, champion_run = _champion("sklearn.tree.DecisionTreeRegressor", {"max_depth": 1}, frame, schema)
    outcome = train_model(
        spec("sklearn.linear_model.Ridge", {}, primaryMetric="mae", gates={"mustBeatChampion": True}),
        frame,
        schema,
        DATASET,
        champion=champion,
    )
    assert outcome.key_metric == "mae"
    assert outcome.passed
    assert outcome.gates[0].message.startswith(
        f"mae {outcome.metrics['mae']:.6g} beats the champion's {champion_run.metrics['mae']:.6g}"
    )


def test_a_champion_that_cannot_read_this_data_fails_the_gate_not_the_run() -> None:
    frame, schema = breast_cancer()
    other_frame, other_schema = mixed_classification()
    champion, _ = _champion("sklearn.naive_bayes.GaussianNB", {}, other_frame, other_schema)
    outcome = train_model(
        spec("sklearn.naive_bayes.GaussianNB", {}, gates={"mustBeatChampion": True}),
        frame,
        schema,
        DATASET,
        champion=champion,
    )
    assert not outcome.passed
    assert "could not be evaluated" in outcome.gates[0].message


def test_fairness_gate_on_a_trained_model() -> None:
    frame, schema = mixed_classification()
    loose = spec(
        "sklearn.ensemble.RandomForestClassifier",
        {"n_estimators": 5},
        gates={
            "fairness": {
                "sensitiveFeature": "clinic",
                "maxDemographicParityDifference": 1.0,
                "maxEqualOpportunityDifference": 1.0,
            }
        },
    )
    outcome = train_model(loose, frame, schema, DATASET)
    assert {"demographic_parity_difference", "equal_opportunity_difference"} <= set(outcome.metrics)
    assert outcome.passed
    strict = loose.model_copy(
        update={
            "evaluation": loose.evaluation.model_copy(
                update={
                    "gates": Gates.model_validate(
                        {"fairness": {"sensitiveFeature": "clinic", "maxDemographicParityDifference": 0.0}}
                    )
                }
            )
        }
    )
    dpd = outcome.metrics["demographic_parity_difference"]
    assert dpd > 0, "the test data should give groups with different positive rates"
    result = train_model(strict, frame, schema, DATASET)
    assert not result.passed
    assert result.gates[0].message == f"demographic_parity_difference {dpd:.6g} > 0 (must be at most 0)"


def test_fairness_needs_two_classes() -> None:
    from tests.unit.test_training_run import iris

    frame, schema = iris()
    frame = frame.assign(site=["x", "y"] * 75)
    schema = schema.model_copy(
        update={
            "columns": [
                *schema.columns,
                *type(schema).model_validate({"columns": [{"name": "site", "type": "string"}]}).columns,
            ],
            "features": [c.name for c in schema.columns if c.name != "target"],
        }
    )
    outcome = train_model(
        spec(
            "sklearn.naive_bayes.GaussianNB",
            {},
            gates={"fairness": {"sensitiveFeature": "site", "maxDemographicParityDifference": 0.5}},
        ),
        frame,
        schema,
        DATASET,
    )
    assert not outcome.passed
    assert "need two classes" in outcome.gates[0].message
