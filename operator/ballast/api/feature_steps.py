"""Declared feature steps: a closed set of transformations a TrainingRun may put before the model.

Each step is a typed object naming its columns and parameters; none is an expression parsed as
code. `ballast.training.feature_pipeline` turns them into scikit-learn transformers.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from ballast.api.common import ApiModel

MAX_COLUMNS_PER_STEP = 64
MAX_FEATURE_STEPS = 32
MAX_BUCKET_EDGES = 64
DatePart = Literal["year", "month", "day", "dayOfWeek", "hour"]
STEP_KINDS = ("standardScale", "minMaxScale", "log", "clip", "bucket", "dateParts", "ratio")


class ColumnsStep(ApiModel):
    """Numeric columns the step transforms in place."""

    columns: list[str] = Field(min_length=1, max_length=MAX_COLUMNS_PER_STEP)
    """Numeric feature columns of the dataset's schema."""


class ClipStep(ColumnsStep):
    """Numeric columns limited to bounds: values below min become min, above max become max."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": "has(self.min) || has(self.max)", "message": "clip needs min, max or both"},
                {
                    "rule": "!has(self.min) || !has(self.max) || self.min < self.max",
                    "message": "clip's min must be below its max",
                },
            ]
        }
    )

    min: float | None = None
    """The lower bound; unbounded below when left out."""
    max: float | None = None
    """The upper bound; unbounded above when left out."""

    @model_validator(mode="after")
    def _bounded(self) -> ClipStep:
        # The same rules as the CEL above, for specs validated outside the API server.
        if self.min is None and self.max is None:
            raise ValueError("clip needs min, max or both")
        if self.min is not None and self.max is not None and self.min >= self.max:
            raise ValueError("clip's min must be below its max")
        return self


class BucketStep(ColumnsStep):
    """Numeric columns replaced by the index of the bucket their value falls in: 0 below the first
    edge, i for edges[i-1] <= value < edges[i], len(edges) at or above the last edge."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": "self.edges.isSorted()", "message": "bucket edges must be in increasing order"}
            ]
        }
    )

    edges: list[float] = Field(min_length=1, max_length=MAX_BUCKET_EDGES)
    """The bucket boundaries, strictly increasing."""

    @field_validator("edges")
    @classmethod
    def _strictly_increasing(cls, edges: list[float]) -> list[float]:
        if any(later <= earlier for earlier, later in zip(edges, edges[1:], strict=False)):
            raise ValueError("bucket edges must be strictly increasing")
        return edges


class DatePartsStep(ApiModel):
    """Parts of a date/time column as numeric features (the column itself is not used otherwise)."""

    column: str = Field(min_length=1, max_length=128)
    """A string column of ISO 8601 dates or date-times (with an offset, converted to UTC)."""
    parts: list[DatePart] = Field(min_length=1, max_length=5, json_schema_extra={"x-kubernetes-list-type": "set"})
    """Which parts: year, month, day, dayOfWeek (Monday is 0) and hour."""


class RatioStep(ApiModel):
    """A derived feature: numerator / denominator of two numeric columns, added beside them."""

    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z_][A-Za-z0-9_.-]*$")
    """The derived feature's name, as the fitted pipeline and the model card show it."""
    numerator: str = Field(min_length=1, max_length=128)
    """A numeric feature column."""
    denominator: str = Field(min_length=1, max_length=128)
    """A numeric feature column; a zero or missing denominator gives a missing ratio, imputed."""


class FeatureStep(ApiModel):
    """Exactly one transformation from the closed set."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "[" + ", ".join(f"has(self.{kind})" for kind in STEP_KINDS) + "].exists_one(x, x)",
                    "message": f"a feature step sets exactly one of {', '.join(STEP_KINDS)}",
                }
            ]
        }
    )

    standard_scale: ColumnsStep | None = None
    """Subtract the training mean and divide by the training standard deviation."""
    min_max_scale: ColumnsStep | None = None
    """Map the training minimum to 0 and maximum to 1 (values outside stay outside)."""
    log: ColumnsStep | None = None
    """The natural logarithm of 1 + value (log1p); NaN for values below -1, then imputed."""
    clip: ClipStep | None = None
    """Limit values to [min, max]."""
    bucket: BucketStep | None = None
    """Replace values by their bucket's index, by given edges."""
    date_parts: DatePartsStep | None = None
    """Year, month, day, day of week or hour of a date/time column."""
    ratio: RatioStep | None = None
    """numerator / denominator of two numeric columns."""

    @model_validator(mode="after")
    def _exactly_one(self) -> FeatureStep:
        set_kinds = [kind for kind in STEP_KINDS if getattr(self, _snake(kind)) is not None]
        if len(set_kinds) != 1:
            raise ValueError(f"a feature step sets exactly one of {', '.join(STEP_KINDS)}, not {set_kinds or 'none'}")
        return self

    @property
    def kind(self) -> str:
        """The one step set, in the API's spelling."""
        return next(kind for kind in STEP_KINDS if getattr(self, _snake(kind)) is not None)

    @property
    def body(self) -> ColumnsStep | DatePartsStep | RatioStep:
        """The one step set: its columns and parameters."""
        return getattr(self, _snake(self.kind))  # type: ignore[no-any-return]


def _snake(kind: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in kind)
