"""Each class's false positive and false negative rate on the test split, recorded in
metadata.json (`errorRates`) for the errorRates drift check, by the same counting the check
applies to the server's feedback counters."""

from __future__ import annotations

from typing import Any

from ballast.drift.group_rates import FALSE_NEGATIVE, FALSE_POSITIVE, class_error_rates, confusion_of


def error_rates_by_class(y_true: Any, y_pred: Any) -> dict[str, dict[str, float]]:
    """class (as text, as the server's labels name it) -> falsePositive / falseNegative -> rate;
    a rate with no row to measure it on is left out."""
    confusion = confusion_of(list(y_true), list(y_pred))
    classes = sorted({true for true, _ in confusion} | {predicted for _, predicted in confusion})
    recorded = {}
    for label, rates in class_error_rates(confusion, classes).items():
        measured = {FALSE_POSITIVE: rates.false_positive_rate, FALSE_NEGATIVE: rates.false_negative_rate}
        recorded[label] = {kind: rate for kind, rate in measured.items() if rate is not None}
    return recorded
