"""The only types a Ballast model artifact may contain. Literal constants on purpose.

These lists live in Ballast's code and are never read from an artifact. They are exactly
what the allow-listed estimators (ballast.api.catalog.ESTIMATORS) need when fitted inside
Ballast's standard pipeline, with every declared feature step (ballast.api.feature_steps):
tests/unit/test_models_trusted_types.py fits each of them on
binary, multiclass and regression data with every column type, and with the params that
change what a fitted model holds, and fails if a needed type is missing here or a listed
type is no longer needed. `python -m tests.unit.test_models_trusted_types` prints both lists.

A params combination outside those probes that needs another type is refused by the training
Job itself (it loads its own artifact before reporting success), never later in the registry.
"""

from __future__ import annotations

# Types skops does not trust by default, which Ballast vouches for. skops.io.loads receives
# exactly this list. The tree and neighbour-search types hold raw node indices that
# scikit-learn does not bounds-check (see skops.io.exceptions.UNTRUSTED_TYPE_REASONS): Ballast
# trusts them because the sha256 check ties every artifact to bytes its own trainer wrote.
SKOPS_TRUSTED_TYPES: frozenset[str] = frozenset(
    {
        # Declared feature steps (ballast.training.feature_pipeline): functions skops loads by import
        # path, each a fixed piece of numpy or Ballast code; the step's parameters are plain data.
        "ballast.models.feature_functions.date_parts",
        "ballast.models.feature_functions.ratio",
        # LightGBM (ballast.training.lightgbm_params): the estimators, and the Booster, which skops
        # rebuilds through its __setstate__ from the model text LightGBM wrote (LightGBM's own
        # parser, no pickle); the evaluation history is an OrderedDict of plain lists.
        "collections.OrderedDict",
        "lightgbm.basic.Booster",
        "lightgbm.sklearn.LGBMClassifier",
        "lightgbm.sklearn.LGBMRegressor",
        "numpy.clip",
        "numpy.digitize",
        "numpy.dtype",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.metrics._dist_metrics.ChebyshevDistance64",
        "sklearn.metrics._dist_metrics.EuclideanDistance64",
        "sklearn.metrics._dist_metrics.ManhattanDistance64",
        "sklearn.metrics._dist_metrics.MinkowskiDistance64",
        "sklearn.neighbors._ball_tree.BallTree",
        "sklearn.neighbors._kd_tree.KDTree",
        "sklearn.tree._tree.Tree",
    }
)

# Every type an artifact may name at all, including those skops trusts by default (skops
# trusts every scikit-learn estimator; Ballast narrows that to what its own pipelines use).
ARTIFACT_TYPES: frozenset[str] = frozenset(
    {
        "ballast.models.feature_functions.date_parts",
        "ballast.models.feature_functions.ratio",
        "builtins.dict",
        "builtins.list",
        "builtins.slice",
        "builtins.str",
        "builtins.tuple",
        "collections.OrderedDict",
        "collections.defaultdict",
        "lightgbm.basic.Booster",
        "lightgbm.sklearn.LGBMClassifier",
        "lightgbm.sklearn.LGBMRegressor",
        "numpy.bool",
        "numpy.clip",
        "numpy.digitize",
        "numpy.dtype",
        "numpy.float64",
        "numpy.int64",
        "numpy.log1p",
        "numpy.ndarray",
        "numpy.random._generator.Generator",
        "numpy.random.mtrand.RandomState",
        "numpy.uint64",
        "sklearn._loss._loss.CyAbsoluteError",
        "sklearn._loss._loss.CyExponentialLoss",
        "sklearn._loss._loss.CyHalfBinomialLoss",
        "sklearn._loss._loss.CyHalfGammaLoss",
        "sklearn._loss._loss.CyHalfMultinomialLoss",
        "sklearn._loss._loss.CyHalfPoissonLoss",
        "sklearn._loss._loss.CyHalfSquaredError",
        "sklearn._loss._loss.CyHuberLoss",
        "sklearn._loss._loss.CyPinballLoss",
        "sklearn._loss.link.HalfLogitLink",
        "sklearn._loss.link.IdentityLink",
        "sklearn._loss.link.Interval",
        "sklearn._loss.link.LogLink",
        "sklearn._loss.link.LogitLink",
        "sklearn._loss.link.MultinomialLogit",
        "sklearn._loss.loss.AbsoluteError",
        "sklearn._loss.loss.ExponentialLoss",
        "sklearn._loss.loss.HalfBinomialLoss",
        "sklearn._loss.loss.HalfGammaLoss",
        "sklearn._loss.loss.HalfMultinomialLoss",
        "sklearn._loss.loss.HalfPoissonLoss",
        "sklearn._loss.loss.HalfSquaredError",
        "sklearn._loss.loss.HuberLoss",
        "sklearn._loss.loss.PinballLoss",
        "sklearn.compose._column_transformer.ColumnTransformer",
        "sklearn.dummy.DummyClassifier",
        "sklearn.dummy.DummyRegressor",
        "sklearn.ensemble._forest.ExtraTreesClassifier",
        "sklearn.ensemble._forest.ExtraTreesRegressor",
        "sklearn.ensemble._forest.RandomForestClassifier",
        "sklearn.ensemble._forest.RandomForestRegressor",
        "sklearn.ensemble._gb.GradientBoostingClassifier",
        "sklearn.ensemble._gb.GradientBoostingRegressor",
        "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
        "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
        "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingRegressor",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.impute._base.SimpleImputer",
        "sklearn.linear_model._base.LinearRegression",
        "sklearn.linear_model._coordinate_descent.ElasticNet",
        "sklearn.linear_model._coordinate_descent.Lasso",
        "sklearn.linear_model._logistic.LogisticRegression",
        "sklearn.linear_model._ridge.Ridge",
        # SGDClassifier keeps its fitted loss (_loss_function_) as a Cython object, which skops
        # trusts by default: log_loss's is CyHalfBinomialLoss (above), modified_huber's this one
        "sklearn.linear_model._sgd_fast.ModifiedHuber",
        "sklearn.linear_model._stochastic_gradient.SGDClassifier",
        "sklearn.linear_model._stochastic_gradient.SGDRegressor",
        "sklearn.metrics._dist_metrics.ChebyshevDistance64",
        "sklearn.metrics._dist_metrics.EuclideanDistance64",
        "sklearn.metrics._dist_metrics.ManhattanDistance64",
        "sklearn.metrics._dist_metrics.MinkowskiDistance64",
        "sklearn.naive_bayes.GaussianNB",
        "sklearn.neighbors._ball_tree.BallTree",
        "sklearn.neighbors._classification.KNeighborsClassifier",
        "sklearn.neighbors._kd_tree.KDTree",
        "sklearn.neighbors._regression.KNeighborsRegressor",
        "sklearn.pipeline.Pipeline",
        "sklearn.preprocessing._data.MinMaxScaler",
        "sklearn.preprocessing._data.StandardScaler",
        "sklearn.preprocessing._encoders.OneHotEncoder",
        "sklearn.preprocessing._function_transformer.FunctionTransformer",
        "sklearn.preprocessing._label.LabelEncoder",
        "sklearn.tree._classes.DecisionTreeClassifier",
        "sklearn.tree._classes.DecisionTreeRegressor",
        "sklearn.tree._classes.ExtraTreeClassifier",
        "sklearn.tree._classes.ExtraTreeRegressor",
        "sklearn.tree._tree.Tree",
    }
)
