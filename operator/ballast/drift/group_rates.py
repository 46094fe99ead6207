"""Rates by group and by class from counts: what the fairness and errorRates checks judge.

The same definitions as ballast.training.fairness (fairlearn's `*_difference` with
method="between_groups"), computed from counters instead of arrays, so a window of live
traffic and training's test split are measured alike:
- demographic parity difference: the largest minus the smallest per-group rate of positive
  predictions;
- equal opportunity difference: the same spread of the per-group true positive rate, over the
  groups with at least one labelled positive;
- per class c (one-vs-rest): false negative rate = P(pred != c | true = c), false positive
  rate = P(pred = c | true != c).

Groups with fewer than `min_rows` rows (labelled positives for equal opportunity) are left
out: one row in a small group would swing the spread between 0 and 1.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

FALSE_POSITIVE = "falsePositive"
FALSE_NEGATIVE = "falseNegative"
"""The names of the two error rates in metadata.json and on the server's metrics."""

Confusion = Mapping[tuple[str, str], float]
"""(true class, predicted class) -> count."""


@dataclass(frozen=True)
class GroupGap:
    difference: float | None
    """Largest minus smallest group rate; None when fewer than two groups had enough rows."""
    rates: dict[str, float]
    """The rate of each group that had enough rows."""
    judged_rows: float
    """The rows (or labelled positives) of the groups in `rates`."""

    @property
    def extremes(self) -> tuple[str, str] | None:
        """The groups with the lowest and the highest rate."""
        if len(self.rates) < 2:
            return None
        return min(self.rates, key=self.rates.__getitem__), max(self.rates, key=self.rates.__getitem__)


def _gap(hits: Mapping[str, float], totals: Mapping[str, float], min_rows: float) -> GroupGap:
    rates = {group: hits.get(group, 0.0) / total for group, total in totals.items() if total >= max(min_rows, 1e-12)}
    difference = max(rates.values()) - min(rates.values()) if len(rates) >= 2 else None
    return GroupGap(difference, rates, sum(totals[group] for group in rates))


def demographic_parity_gap(
    predictions: Mapping[str, Mapping[str, float]], positive: str, min_rows: float = 1
) -> GroupGap:
    """`predictions`: group -> predicted class -> count."""
    totals = {group: sum(by_class.values()) for group, by_class in predictions.items()}
    hits = {group: by_class.get(positive, 0.0) for group, by_class in predictions.items()}
    return _gap(hits, totals, min_rows)


def equal_opportunity_gap(feedback: Mapping[str, Confusion], positive: str, min_rows: float = 1) -> GroupGap:
    """`feedback`: group -> (true class, predicted class) -> count."""
    totals = {
        group: sum(n for (true, _), n in confusion.items() if true == positive) for group, confusion in feedback.items()
    }
    hits = {group: confusion.get((positive, positive), 0.0) for group, confusion in feedback.items()}
    return _gap(hits, totals, min_rows)


@dataclass(frozen=True)
class ClassErrorRates:
    false_positive_rate: float | None
    """None when no labelled row was of another class."""
    false_negative_rate: float | None
    """None when no labelled row was of this class."""
    positives: float
    """Labelled rows of this class."""
    negatives: float
    """Labelled rows of the other classes."""


def class_error_rates(confusion: Confusion, classes: Iterable[str]) -> dict[str, ClassErrorRates]:
    """One-vs-rest error rates of each class. A true class outside `classes` (a label the model
    cannot predict) counts as a negative of every class."""
    total = sum(confusion.values())
    rates = {}
    for label in classes:
        positives = sum(n for (true, _), n in confusion.items() if true == label)
        missed = sum(n for (true, predicted), n in confusion.items() if true == label and predicted != label)
        false_alarms = sum(n for (true, predicted), n in confusion.items() if true != label and predicted == label)
        negatives = total - positives
        rates[label] = ClassErrorRates(
            false_positive_rate=false_alarms / negatives if negatives > 0 else None,
            false_negative_rate=missed / positives if positives > 0 else None,
            positives=positives,
            negatives=negatives,
        )
    return rates


def confusion_of(y_true: Iterable[object], y_pred: Iterable[object]) -> dict[tuple[str, str], float]:
    """Counts of (true, predicted) pairs, labels as text (as the server's counters name them)."""
    counts: dict[tuple[str, str], float] = {}
    for true, predicted in zip(y_true, y_pred):
        key = (str(true), str(predicted))
        counts[key] = counts.get(key, 0.0) + 1.0
    return counts
