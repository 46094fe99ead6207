"""Group fairness of a binary classifier's predictions across the groups of a sensitive feature.

Both measures are the largest minus the smallest per-group rate, so 0 is perfectly even and
1 is as uneven as it gets (the same definitions as fairlearn's `*_difference` functions with
method="between_groups"):
- demographic parity difference: the rate of positive predictions, P(pred = positive | group);
- equal opportunity difference: the true-positive rate, P(pred = positive | true = positive, group),
  over the groups that have at least one true positive.
Missing values of the sensitive feature form a group of their own.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

MISSING_GROUP = "<missing>"
DEMOGRAPHIC_PARITY_DIFFERENCE = "demographic_parity_difference"
EQUAL_OPPORTUNITY_DIFFERENCE = "equal_opportunity_difference"
FAIRNESS_METRICS = (DEMOGRAPHIC_PARITY_DIFFERENCE, EQUAL_OPPORTUNITY_DIFFERENCE)


def _groups(sensitive: Any) -> np.ndarray:
    series = pd.Series(sensitive)
    return series.astype(object).where(series.notna(), MISSING_GROUP).map(str).to_numpy()


def _spread(rates: list[float]) -> float:
    return float(max(rates) - min(rates)) if rates else 0.0


def demographic_parity_difference(y_pred: Any, sensitive: Any, positive: Any) -> float:
    predicted_positive = np.asarray(y_pred) == positive
    groups = _groups(sensitive)
    return _spread([float(predicted_positive[groups == g].mean()) for g in np.unique(groups)])


def equal_opportunity_difference(y_true: Any, y_pred: Any, sensitive: Any, positive: Any) -> float:
    actual_positive = np.asarray(y_true) == positive
    predicted_positive = np.asarray(y_pred) == positive
    groups = _groups(sensitive)
    rates = [
        float(predicted_positive[(groups == g) & actual_positive].mean())
        for g in np.unique(groups)
        if np.any((groups == g) & actual_positive)
    ]
    return _spread(rates)


def fairness_metrics(y_true: Any, y_pred: Any, sensitive: Any, positive: Any) -> dict[str, float]:
    return {
        DEMOGRAPHIC_PARITY_DIFFERENCE: demographic_parity_difference(y_pred, sensitive, positive),
        EQUAL_OPPORTUNITY_DIFFERENCE: equal_opportunity_difference(y_true, y_pred, sensitive, positive),
    }
