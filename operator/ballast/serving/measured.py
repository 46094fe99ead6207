"""What training measured on its test split that production is judged against: fairness on the
sensitive feature and each class's error rates, read from metadata.json and exported with the
reference (ballast_reference_fairness, ballast_reference_class_error_rate)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TrainingMeasurements:
    positive_class: str | None = None
    """The class fairness counts as the positive outcome (training's: the last class)."""
    sensitive_feature: str | None = None
    fairness: dict[str, float] = field(default_factory=dict)
    """demographic_parity_difference, equal_opportunity_difference as training measured them."""
    error_rates: dict[str, dict[str, float]] = field(default_factory=dict)
    """class -> falsePositive | falseNegative -> rate on the test split."""


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def measurements_from_metadata(metadata: Mapping[str, Any], classes: tuple[Any, ...]) -> TrainingMeasurements:
    """Anything malformed or absent (a model trained before these were recorded) is left out."""
    fairness = metadata.get("fairness") if isinstance(metadata.get("fairness"), Mapping) else {}
    feature = fairness.get("sensitiveFeature")
    metrics = fairness.get("metrics") if isinstance(fairness.get("metrics"), Mapping) else {}
    recorded = metadata.get("errorRates") if isinstance(metadata.get("errorRates"), Mapping) else {}
    error_rates = {
        str(label): {kind: float(rate) for kind, rate in rates.items() if _finite(rate)}
        for label, rates in recorded.items()
        if isinstance(rates, Mapping)
    }
    return TrainingMeasurements(
        positive_class=str(classes[-1]) if len(classes) == 2 else None,
        sensitive_feature=feature if isinstance(feature, str) and feature else None,
        fairness={str(name): float(value) for name, value in metrics.items() if _finite(value)},
        error_rates=error_rates,
    )
