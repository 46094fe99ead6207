"""What Ballast knows how to train and measure: the estimator allow-list and the metrics.

The API server enforces these lists through CEL rules generated from them, and the trainer
builds only what is listed here, so a TrainingRun can never name an arbitrary import path.
"""

from __future__ import annotations

from typing import Literal

Task = Literal["classification", "regression"]

ESTIMATORS: dict[str, Task] = {
    "sklearn.linear_model.LogisticRegression": "classification",
    "sklearn.ensemble.RandomForestClassifier": "classification",
    "sklearn.ensemble.ExtraTreesClassifier": "classification",
    "sklearn.ensemble.GradientBoostingClassifier": "classification",
    "sklearn.ensemble.HistGradientBoostingClassifier": "classification",
    "sklearn.tree.DecisionTreeClassifier": "classification",
    "sklearn.neighbors.KNeighborsClassifier": "classification",
    # LightGBM's scikit-learn classes; Ballast pins what makes them reproducible
    # (ballast.training.lightgbm_params)
    "lightgbm.LGBMClassifier": "classification",
    "sklearn.naive_bayes.GaussianNB": "classification",
    # linear models fitted by stochastic gradient descent: the estimators that learn one block
    # of rows at a time (partial_fit)
    "sklearn.linear_model.SGDClassifier": "classification",
    "sklearn.linear_model.LinearRegression": "regression",
    "sklearn.linear_model.Ridge": "regression",
    "sklearn.linear_model.Lasso": "regression",
    "sklearn.linear_model.ElasticNet": "regression",
    "sklearn.ensemble.RandomForestRegressor": "regression",
    "sklearn.ensemble.ExtraTreesRegressor": "regression",
    "sklearn.ensemble.GradientBoostingRegressor": "regression",
    "sklearn.ensemble.HistGradientBoostingRegressor": "regression",
    "sklearn.tree.DecisionTreeRegressor": "regression",
    "sklearn.neighbors.KNeighborsRegressor": "regression",
    "lightgbm.LGBMRegressor": "regression",
    "sklearn.linear_model.SGDRegressor": "regression",
}

# The estimators a run may fit blockwise on a distributed engine (spec.compute): those that learn
# one block of rows at a time (partial_fit) inside Ballast's standard pipeline.
BLOCKWISE_ESTIMATORS = ("sklearn.linear_model.SGDClassifier", "sklearn.linear_model.SGDRegressor")

CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")
REGRESSION_METRICS = ("rmse", "mae", "r2")
METRICS = CLASSIFICATION_METRICS + REGRESSION_METRICS
# Metrics where a smaller value is better; every other metric is better when larger.
LOWER_IS_BETTER = frozenset({"log_loss", "rmse", "mae"})

FAIRNESS_METRICS = ("demographic_parity_difference", "equal_opportunity_difference")
