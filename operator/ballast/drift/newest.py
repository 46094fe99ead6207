"""The newest part of a training snapshot (spec.reference.source newestTraining), as the operator
asks the model server for its reference: the query of GET /metrics/reference.

The part is named by the policy, not the model: the server keeps one reference of the whole
snapshot and counts a newest part when it is asked for one, in the same bins.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

TIME_COLUMN, PERIOD_SECONDS, FRACTION = "timeColumn", "periodSeconds", "fraction"
"""The query parameters of the reference page that select a newest part."""


@dataclass(frozen=True)
class NewestPart:
    """The rows dated within `period_seconds` of the newest row, or the newest `fraction` of the dated rows."""

    time_column: str
    period_seconds: float | None = None
    fraction: float | None = None

    def __post_init__(self) -> None:
        if not self.time_column:
            raise ValueError("a newest part needs a time column")
        if (self.period_seconds is None) == (self.fraction is None):
            raise ValueError("a newest part needs exactly one of a period and a fraction")
        if self.period_seconds is not None and not (math.isfinite(self.period_seconds) and self.period_seconds > 0):
            raise ValueError(f"the period must be a positive number of seconds, not {self.period_seconds}")
        if self.fraction is not None and not 0 < self.fraction < 1:
            raise ValueError(f"the fraction must be between 0 and 1, not {self.fraction}")

    def query(self) -> str:
        """The query string (no `?`) that asks the model server for this part's reference."""
        amount = {PERIOD_SECONDS: self.period_seconds} if self.period_seconds is not None else {FRACTION: self.fraction}
        return urlencode({TIME_COLUMN: self.time_column, **amount})


def newest_part_of_query(query: Mapping[str, str]) -> NewestPart | None:
    """The part a reference page's query asks for; None for the whole snapshot. ValueError when
    the query names a part wrongly (the server answers 400)."""
    if not any(name in query for name in (TIME_COLUMN, PERIOD_SECONDS, FRACTION)):
        return None
    period, fraction = query.get(PERIOD_SECONDS), query.get(FRACTION)
    return NewestPart(
        time_column=query.get(TIME_COLUMN, ""),
        period_seconds=None if period is None else float(period),
        fraction=None if fraction is None else float(fraction),
    )
