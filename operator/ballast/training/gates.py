"""The gates a model must pass to become a ModelVersion; each says what it compared.

A gate never raises: a metric that could not be computed fails its gate with the reason,
because a gate nobody can evaluate must not let a model through.
"""

from __future__ import annotations

from dataclasses import dataclass

from ballast.api.catalog import LOWER_IS_BETTER
from ballast.api.trainingrun import MUST_BEAT_CHAMPION, GateResult, Gates


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def is_better(metric: str, challenger: float, champion: float) -> bool:
    """Strictly better: a tie does not replace the model in production."""
    return challenger < champion if metric in LOWER_IS_BETTER else challenger > champion


def minimum_gate(metric: str, bound: float, metrics: dict[str, float], skipped: dict[str, str]) -> GateResult:
    name = f"minimum/{metric}"
    if metric not in metrics:
        why = skipped.get(metric, "this estimator's task does not produce it")
        return GateResult(name=name, passed=False, message=f"{metric} was not computed ({why}); bound {_fmt(bound)}")
    value = metrics[metric]
    if metric in LOWER_IS_BETTER:
        passed, relation, word = value <= bound, "<=" if value <= bound else ">", "at most"
    else:
        passed, relation, word = value >= bound, ">=" if value >= bound else "<", "at least"
    return GateResult(
        name=name,
        passed=passed,
        message=f"{metric} {_fmt(value)} {relation} {_fmt(bound)} (must be {word} {_fmt(bound)})",
    )


def fairness_gate(metric: str, bound: float, fairness: dict[str, float], unavailable: str | None) -> GateResult:
    name = f"fairness/{metric}"
    if metric not in fairness:
        return GateResult(
            name=name,
            passed=False,
            message=f"{metric} was not computed ({unavailable or 'no sensitive feature'}); bound {_fmt(bound)}",
        )
    value = fairness[metric]
    passed = value <= bound
    return GateResult(
        name=name,
        passed=passed,
        message=f"{metric} {_fmt(value)} {'<=' if passed else '>'} {_fmt(bound)} (must be at most {_fmt(bound)})",
    )


@dataclass(frozen=True)
class ChampionScore:
    """The champion's primary metric on this run's test split, or why there is none."""

    value: float | None
    problem: str | None = None


def champion_gate(primary_metric: str, metrics: dict[str, float], champion: ChampionScore | None) -> GateResult:
    if champion is None:
        # The first version of a model has nothing to beat.
        return GateResult(
            name=MUST_BEAT_CHAMPION, passed=True, message="no champion to beat (first version of the model)"
        )
    if champion.value is None:
        return GateResult(
            name=MUST_BEAT_CHAMPION,
            passed=False,
            message=f"the champion could not be evaluated on this run's test split: {champion.problem}",
        )
    if primary_metric not in metrics:
        return GateResult(
            name=MUST_BEAT_CHAMPION,
            passed=False,
            message=f"this run has no {primary_metric} to compare with the champion",
        )
    value = metrics[primary_metric]
    passed = is_better(primary_metric, value, champion.value)
    direction = "lower" if primary_metric in LOWER_IS_BETTER else "higher"
    verdict = "beats" if passed else "does not beat"
    return GateResult(
        name=MUST_BEAT_CHAMPION,
        passed=passed,
        message=f"{primary_metric} {_fmt(value)} {verdict} the champion's {_fmt(champion.value)} "
        f"on the same test split ({direction} is better)",
    )


def evaluate_gates(
    gates: Gates | None,
    primary_metric: str,
    metrics: dict[str, float],
    skipped: dict[str, str],
    fairness: dict[str, float],
    fairness_unavailable: str | None,
    champion: ChampionScore | None,
) -> list[GateResult]:
    if gates is None:
        return []
    results = [
        minimum_gate(metric, bound, metrics, skipped) for metric, bound in sorted((gates.minimums or {}).items())
    ]
    if gates.fairness is not None:
        bounds = {
            "demographic_parity_difference": gates.fairness.max_demographic_parity_difference,
            "equal_opportunity_difference": gates.fairness.max_equal_opportunity_difference,
        }
        results += [
            fairness_gate(metric, bound, fairness, fairness_unavailable)
            for metric, bound in bounds.items()
            if bound is not None
        ]
    if gates.must_beat_champion:
        results.append(champion_gate(primary_metric, metrics, champion))
    return results
