"""LightGBM's hyperparameters as Ballast accepts them, and the ones Ballast pins for reproducibility.

LightGBM's scikit-learn classes declare no `_parameter_constraints`, so scikit-learn's checks
(ballast.training.estimators) cannot judge their values; a bad value would only fail deep in
LightGBM's C++ at fit time. `LightGBMParams` states the documented range of each public
parameter, so a TrainingRun's bad value is refused by name before anything is fitted.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

FAMILY = "lightgbm"

# Set by Ballast on every LightGBM estimator, never by a TrainingRun: together with the seed
# they make the same spec and data give the same trees, whatever the machine.
PINNED_PARAMS: dict[str, Any] = {
    # LightGBM's own switch for run-to-run identical results (fixed histogram accumulation order)
    "deterministic": True,
    # with deterministic, LightGBM asks for one fixed histogram layout instead of timing both
    # and keeping the faster, which would make the model depend on the machine's speed
    "force_row_wise": True,
    # one OpenMP thread: float sums in a fixed order, and the shared training pod's CPU request holds
    "n_jobs": 1,
    # LightGBM's C++ logs go to stdout, which the training Job keeps for its JSON report
    "verbose": -1,
}


class LightGBMParams(BaseModel):
    """The public parameters of lightgbm.LGBMClassifier and LGBMRegressor, with LightGBM's ranges."""

    model_config = ConfigDict(extra="forbid", strict=True)

    # rf needs bagging (subsample < 1 with subsample_freq > 0); LightGBM says so at fit time
    boosting_type: Literal["gbdt", "dart", "rf"] | None = None
    num_leaves: int | None = Field(default=None, ge=2, le=131072)
    max_depth: int | None = Field(default=None, ge=-1)
    learning_rate: float | None = Field(default=None, gt=0)
    n_estimators: int | None = Field(default=None, ge=1, le=100_000)
    subsample_for_bin: int | None = Field(default=None, ge=1)
    objective: (
        Literal[
            "binary",
            "multiclass",
            "multiclassova",
            "regression",
            "regression_l1",
            "huber",
            "fair",
            "poisson",
            "quantile",
            "mape",
            "gamma",
            "tweedie",
        ]
        | None
    ) = None
    class_weight: Literal["balanced"] | None = None
    min_split_gain: float | None = Field(default=None, ge=0)
    min_child_weight: float | None = Field(default=None, ge=0)
    min_child_samples: int | None = Field(default=None, ge=0)
    subsample: float | None = Field(default=None, gt=0, le=1)
    subsample_freq: int | None = Field(default=None, ge=0)
    colsample_bytree: float | None = Field(default=None, gt=0, le=1)
    reg_alpha: float | None = Field(default=None, ge=0)
    reg_lambda: float | None = Field(default=None, ge=0)
    importance_type: Literal["split", "gain"] | None = None


def lightgbm_param_problems(params: dict[str, Any]) -> list[str]:
    """One line per known parameter whose value LightGBM would refuse (unknown names are the
    caller's to report, with a suggestion)."""
    known = {name: value for name, value in params.items() if name in LightGBMParams.model_fields}
    try:
        LightGBMParams.model_validate(known)
    except ValidationError as error:
        return [f"{'.'.join(map(str, e['loc']))!r}: {e['msg']} (got {e['input']!r})" for e in error.errors()]
    return []
