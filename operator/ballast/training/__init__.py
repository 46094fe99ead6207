"""Pure training logic: estimator from the allow-list, pipeline from the schema, metrics and gates."""

from ballast.training.errors import InvalidEstimator, InvalidEvaluation, InvalidTrainingData, TrainingInputError
from ballast.training.run import DatasetIdentity, TrainingOutcome, train_model

__all__ = [
    "DatasetIdentity",
    "InvalidEstimator",
    "InvalidEvaluation",
    "InvalidTrainingData",
    "TrainingInputError",
    "TrainingOutcome",
    "train_model",
]
