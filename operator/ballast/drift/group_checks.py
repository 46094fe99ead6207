"""The checks that split a window's counts by group or by class: fairness (demographic parity
and equal opportunity across the groups of one sensitive feature) and errorRates (each class's
false positive and false negative rate). Each judges the live value against training's value
on its test split (exported with the reference) plus an allowed rise, and fairness also
against absolute limits: the stricter limit applies, as for accuracy.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ballast.api.driftpolicy import ErrorRatesCheck, FairnessCheck
from ballast.drift.checks import CONFUSION, CheckOutcome, by_label
from ballast.drift.counters import Window
from ballast.drift.defaults import MAX_ERROR_RATE_INCREASE, MAX_FAIRNESS_INCREASE, MIN_GROUP_ROWS, MIN_LABELS
from ballast.drift.group_rates import (
    FALSE_NEGATIVE,
    FALSE_POSITIVE,
    GroupGap,
    class_error_rates,
    demographic_parity_gap,
    equal_opportunity_gap,
)
from ballast.reasons.driftpolicy import Check, Verdict

GROUP_PREDICTIONS = "ballast_fairness_prediction_total"
GROUP_FEEDBACK = "ballast_fairness_feedback_total"
REFERENCE_FAIRNESS = "ballast_reference_fairness"
REFERENCE_FOLDED_GROUPS = "ballast_reference_fairness_folded_groups"
REFERENCE_ERROR_RATES = "ballast_reference_class_error_rate"
DEMOGRAPHIC_PARITY = "demographic_parity_difference"
EQUAL_OPPORTUNITY = "equal_opportunity_difference"


@dataclass(frozen=True)
class Judged:
    """One measured value against its limit."""

    what: str
    value: float
    limit: float
    trained: float | None

    @property
    def over(self) -> bool:
        return self.value > self.limit

    @property
    def severity(self) -> float:
        """How far past (or short of) its limit, comparable across values."""
        return self.value - self.limit

    def describe(self) -> str:
        against = f", training {self.trained:.3f}" if self.trained is not None else ""
        return f"{self.what} {self.value:.3f} (limit {self.limit:.3f}{against})"


def _limit(absolute: float | None, trained: float | None, max_increase: float | None) -> float | None:
    """The stricter of an absolute limit and training's value plus the allowed rise."""
    limits = [
        limit
        for limit in (absolute, None if trained is None or max_increase is None else trained + max_increase)
        if limit is not None
    ]
    return min(limits) if limits else None


def _outcome(name: Check, judged: list[Judged], note: str) -> CheckOutcome:
    worst = max(judged, key=lambda j: j.severity)
    over = sorted((j for j in judged if j.over), key=lambda j: j.severity, reverse=True)
    if over:
        # every one named (a binary classifier's false negatives of one class are the other's false positives)
        named = "; ".join(j.describe() for j in over[:4]) + ("; ..." if len(over) > 4 else "")
        message = f"{len(over)} over the limit: {named}"
    else:
        message = f"closest: {worst.describe()}"
    return CheckOutcome(
        name,
        Verdict.DRIFT if over else Verdict.NO_DRIFT,
        score=worst.value,
        threshold=worst.limit,
        message=message + note,
    )


def _gap_text(gap: GroupGap) -> str:
    extremes = gap.extremes
    return f" between {extremes[0]!r} and {extremes[1]!r}" if extremes else ""


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


def _group_predictions(window: Window, feature: str) -> dict[str, dict[str, float]]:
    """group -> predicted class -> count, of the sensitive feature's groups."""
    predictions: dict[str, dict[str, float]] = {}
    for (name, group, predicted), count in by_label(
        window.counts, GROUP_PREDICTIONS, "feature", "group", "predicted_class"
    ).items():
        if name == feature:
            predictions.setdefault(group, {})[predicted] = count
    return predictions


def _group_feedback(window: Window, feature: str) -> dict[str, dict[tuple[str, str], float]]:
    """group -> (true class, predicted class) -> count."""
    feedback: dict[str, dict[tuple[str, str], float]] = {}
    for (name, group, true, predicted), count in by_label(
        window.counts, GROUP_FEEDBACK, "feature", "group", "true_class", "predicted_class"
    ).items():
        if name == feature:
            feedback.setdefault(group, {})[(true, predicted)] = count
    return feedback


def fairness(window: Window, check: FairnessCheck, min_samples: int) -> CheckOutcome:
    feature = check.sensitive_feature
    min_group_rows, min_labels = _or(check.min_group_rows, MIN_GROUP_ROWS), _or(check.min_labels, MIN_LABELS)
    max_increase = _or(check.max_increase, MAX_FAIRNESS_INCREASE)
    predictions = _group_predictions(window, feature)
    trained = {
        metric: (value, positive)
        for (name, metric, positive), value in by_label(
            window.reference, REFERENCE_FAIRNESS, "feature", "metric", "positive_class"
        ).items()
        if name == feature
    }
    if not predictions:
        return CheckOutcome(
            Check.FAIRNESS,
            Verdict.ERROR,
            message=f"the server counts no predictions by group of {feature!r}: it counts the feature the "
            "TrainingRun's gates.fairness.sensitiveFeature named, for a binary classifier",
        )
    positive = next((p for _, p in trained.values()), None)
    if positive is None:
        return CheckOutcome(
            Check.FAIRNESS, Verdict.ERROR, message=f"training recorded no fairness measurement of {feature!r}"
        )
    rows = sum(sum(by_class.values()) for by_class in predictions.values())
    if rows < min_samples:
        return CheckOutcome(
            Check.FAIRNESS, Verdict.NOT_ENOUGH_DATA, message=f"{rows:.0f} predictions, fewer than {min_samples}"
        )
    folded = by_label(window.reference, REFERENCE_FOLDED_GROUPS, "feature").get((feature,), 0.0)
    note = f"; {folded:.0f} groups folded into __other__" if folded else ""
    judged: list[Judged] = []
    unjudged: list[str] = []
    parity = demographic_parity_gap(predictions, positive, min_group_rows)
    _judge(
        judged,
        unjudged,
        "demographic parity difference" + _gap_text(parity),
        parity.difference,
        check.max_demographic_parity_difference,
        trained.get(DEMOGRAPHIC_PARITY, (None, None))[0],
        max_increase,
    )
    feedback = _group_feedback(window, feature)
    labels = sum(sum(confusion.values()) for confusion in feedback.values())
    if labels >= min_labels:
        opportunity = equal_opportunity_gap(feedback, positive, min_group_rows)
        _judge(
            judged,
            unjudged,
            "equal opportunity difference" + _gap_text(opportunity),
            opportunity.difference,
            check.max_equal_opportunity_difference,
            trained.get(EQUAL_OPPORTUNITY, (None, None))[0],
            max_increase,
        )
    else:
        unjudged.append(f"equal opportunity waits for {min_labels:.0f} labels ({labels:.0f})")
    if unjudged:
        note += "; " + "; ".join(unjudged)
    if not judged:
        return CheckOutcome(Check.FAIRNESS, Verdict.NOT_ENOUGH_DATA, message=note.removeprefix("; "))
    return _outcome(Check.FAIRNESS, judged, note)


def _judge(
    judged: list[Judged],
    unjudged: list[str],
    what: str,
    value: float | None,
    absolute: float | None,
    trained: float | None,
    max_increase: float | None,
) -> None:
    limit = _limit(absolute, trained, max_increase)
    if value is None:
        unjudged.append(f"{what}: fewer than two groups with enough rows")
    elif limit is None:
        unjudged.append(f"{what} {value:.3f}: no limit (training measured none; set an absolute one)")
    else:
        judged.append(Judged(what, value, limit, trained))


def has_error_rates(window: Window) -> bool:
    """Whether the served version exports training's error rates (classifiers trained since they are recorded)."""
    return any(name == REFERENCE_ERROR_RATES for name, _ in window.reference)


def error_rates(window: Window, check: ErrorRatesCheck, min_samples: int) -> CheckOutcome:
    """Each class's false positive and false negative rate on the window's labels against
    training's plus maxIncrease; a rate over fewer than minClassLabels rows is not judged."""
    trained = {
        (label, kind): value
        for (label, kind), value in by_label(window.reference, REFERENCE_ERROR_RATES, "class", "rate").items()
    }
    if not trained:
        return CheckOutcome(
            Check.ERROR_RATES,
            Verdict.ERROR,
            message="training recorded no error rates by class (a regressor, or a model trained before they were)",
        )
    min_labels, min_class_labels = _or(check.min_labels, MIN_LABELS), _or(check.min_class_labels, MIN_GROUP_ROWS)
    max_increase = _or(check.max_increase, MAX_ERROR_RATE_INCREASE)
    if window.rows < min_samples:
        return CheckOutcome(
            Check.ERROR_RATES, Verdict.NOT_ENOUGH_DATA, message=f"{window.rows:.0f} rows, fewer than {min_samples}"
        )
    confusion = {
        (true, predicted): count
        for (true, predicted), count in by_label(window.counts, CONFUSION, "true_class", "predicted_class").items()
    }
    labels = sum(confusion.values())
    if labels < min_labels:
        return CheckOutcome(
            Check.ERROR_RATES, Verdict.NOT_ENOUGH_DATA, message=f"{labels:.0f} labels, fewer than {min_labels:.0f}"
        )
    classes = _wanted(sorted({label for label, _ in trained}), check.classes)
    judged = []
    for label, rates in class_error_rates(confusion, classes).items():
        for kind, rate, rows in (
            (FALSE_NEGATIVE, rates.false_negative_rate, rates.positives),
            (FALSE_POSITIVE, rates.false_positive_rate, rates.negatives),
        ):
            baseline = trained.get((label, kind))
            if rate is None or baseline is None or rows < min_class_labels:
                continue
            what = f"{'false negative' if kind == FALSE_NEGATIVE else 'false positive'} rate of {label!r}"
            judged.append(Judged(what, rate, baseline + max_increase, baseline))
    if not judged:
        return CheckOutcome(
            Check.ERROR_RATES,
            Verdict.NOT_ENOUGH_DATA,
            message=f"no class has {min_class_labels:.0f} labels on either side",
        )
    return _outcome(Check.ERROR_RATES, judged, f" on {labels:.0f} labels")


def _wanted(classes: list[str], wanted: Iterable[str] | None) -> list[str]:
    return classes if wanted is None else [label for label in classes if label in set(wanted)]
