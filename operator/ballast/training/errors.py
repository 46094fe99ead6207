"""Why a training run stopped before producing a model; `reason` is what the operator reports."""

from __future__ import annotations


class TrainingInputError(Exception):
    """The run's inputs are wrong; retrying will not help, the person must change something."""

    reason = "TrainingFailed"

    def __init__(self, message: str, problems: tuple[str, ...] = ()) -> None:
        self.problems = problems
        super().__init__(message)


class InvalidEstimator(TrainingInputError):
    """The estimator is not allow-listed, or its params are unknown or have bad values."""

    reason = "InvalidEstimator"


class InvalidEvaluation(TrainingInputError):
    """The evaluation asks for metrics or gates this estimator's task cannot produce."""

    reason = "InvalidEvaluation"


class InvalidTrainingData(TrainingInputError):
    """The dataset cannot be trained on as its schema describes (missing columns, one class...)."""

    reason = "InvalidData"
