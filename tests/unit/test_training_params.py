"""Estimators come only from the allow-list and bad params are refused before any fitting."""

from __future__ import annotations

import pytest
from sklearn.pipeline import Pipeline

from ballast.training import InvalidEstimator, InvalidEvaluation, train_model
from ballast.training.estimators import build_estimator, param_problems
from tests.unit.test_training_run import DATASET, breast_cancer, diabetes, spec


@pytest.fixture
def fitting_forbidden(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args, **_kwargs):
        raise AssertionError("fit was called although the spec is invalid")

    monkeypatch.setattr(Pipeline, "fit", refuse)


@pytest.mark.parametrize("estimator", ["sklearn.svm.SVC", "os.system", "sklearn.ensemble.RandomForest"])
def test_an_estimator_outside_the_allow_list_is_refused(estimator: str, fitting_forbidden: None) -> None:
    frame, schema = breast_cancer()
    with pytest.raises(InvalidEstimator, match="allow-list"):
        train_model(spec(estimator, {}), frame, schema, DATASET)


def test_every_problem_in_params_is_listed_before_fitting(fitting_forbidden: None) -> None:
    frame, schema = breast_cancer()
    bad = {"n_estimator": 10, "max_depth": -3, "criterion": "purity", "bootstrap": "yes"}
    with pytest.raises(InvalidEstimator) as caught:
        train_model(spec("sklearn.ensemble.RandomForestClassifier", bad), frame, schema, DATASET)
    problems = caught.value.problems
    assert len(problems) == 4, problems
    message = str(caught.value)
    assert "unknown parameter 'n_estimator' (did you mean 'n_estimators'?)" in message
    assert "'max_depth' parameter of RandomForestClassifier must be an int in the range [1, inf)" in message
    assert "'criterion'" in message and "'bootstrap'" in message
    assert caught.value.reason == "InvalidEstimator"


def test_random_state_comes_from_the_seed_only() -> None:
    assert param_problems(
        build_estimator("sklearn.tree.DecisionTreeClassifier", {}, 0).__class__, {"random_state": 1}
    ) == ["'random_state' is set from spec.seed; set the seed there instead"]
    assert (
        build_estimator("sklearn.tree.DecisionTreeClassifier", {"max_depth": 2}, 99).get_params()["random_state"] == 99
    )


def test_estimators_without_random_state_ignore_the_seed() -> None:
    assert "random_state" not in build_estimator("sklearn.naive_bayes.GaussianNB", {}, 5).get_params()


def test_valid_params_are_applied() -> None:
    estimator = build_estimator("sklearn.linear_model.LogisticRegression", {"C": 0.5, "max_iter": 300}, 0)
    assert estimator.get_params()["C"] == 0.5 and estimator.get_params()["max_iter"] == 300


def test_a_combination_only_the_fit_can_reject_fails_with_scikit_learns_reason() -> None:
    frame, schema = breast_cancer()
    # Each value is valid on its own; scikit-learn rejects exponential loss for three classes
    # only when fitting (the runtime reports it as TrainingFailed with this message).
    with pytest.raises(ValueError, match="exponential"):
        train_model(
            spec("sklearn.ensemble.GradientBoostingClassifier", {"loss": "exponential", "n_estimators": 2}),
            frame.assign(target=frame["target"] + (frame.index % 3 == 0)),
            schema,
            DATASET,
        )


def test_metrics_of_the_wrong_task_are_refused_before_fitting(fitting_forbidden: None) -> None:
    frame, schema = diabetes()
    with pytest.raises(InvalidEvaluation) as caught:
        train_model(
            spec(
                "sklearn.linear_model.Ridge", {}, primaryMetric="accuracy", gates={"minimums": {"f1": 0.5, "r2": 0.1}}
            ),
            frame,
            schema,
            DATASET,
        )
    assert "primaryMetric 'accuracy' is not a regression metric" in str(caught.value)
    assert "gates.minimums.f1" in str(caught.value)
    assert "gates.minimums.r2" not in str(caught.value)


def test_an_unknown_sensitive_feature_is_refused_before_fitting(fitting_forbidden: None) -> None:
    frame, schema = breast_cancer()
    with pytest.raises(InvalidEvaluation, match="sensitiveFeature 'gender'"):
        train_model(
            spec(
                "sklearn.naive_bayes.GaussianNB",
                {},
                gates={"fairness": {"sensitiveFeature": "gender", "maxDemographicParityDifference": 0.1}},
            ),
            frame,
            schema,
            DATASET,
        )
