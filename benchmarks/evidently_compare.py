"""Ballast's drift methods against Evidently's on the same generated arrays: scores and verdicts.

    .venv/bin/python benchmarks/evidently_compare.py [--rows 10000] [--seed 16] [--update]

Evidently is installed from PyPI into its own virtualenv, kept outside the checkout under
~/.cache/ballast/venvs/evidently-<version> (BALLAST_CACHE_DIR moves it), so it never meets
Ballast's pins. This file runs on both sides: in Ballast's venv it generates the scenarios
(a reference and a current window of `--rows` rows each, numeric and categorical, from no
shift to a new category), scores them with ballast.drift, and runs itself in Evidently's venv
with `--evidently-side` on the same arrays (an .npz file), where Evidently's legacy stat tests
(the implementations its presets and ValueDrift metric call) score them.

For each scenario and method it prints both scores, both verdicts at each tool's default
threshold, and the Ballast threshold that reproduces Evidently's default verdict: Evidently's
threshold carried over to Ballast's scale (`threshold_for_evidently`), marked `ok` when
Ballast at that threshold gives Evidently's verdict on this row. `--update` also writes the tables
into docs/drift.md, between its figures:evidently_compare markers (figures.py).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import figures
import peer_venvs

EVIDENTLY_VERSION = "0.7.23"
# Evidently 0.7.23 leaves pandas unbounded but imports pandas.core.dtypes.common.infer_dtype_from_object,
# which pandas 3 removed: importing its stat tests fails with an ImportError without this bound.
EVIDENTLY_EXTRA_REQUIREMENTS = ("pandas<3",)
FIGURES = figures.Section("evidently_compare", figures.DRIFT_DOC)

# Ballast method name -> Evidently stat test name, per kind of feature
NUMERIC_METHODS = {"psi": "psi", "jensenShannon": "jensenshannon", "wasserstein": "wasserstein", "ks": "ks"}
CATEGORICAL_METHODS = {"psi": "psi", "jensenShannon": "jensenshannon", "chiSquare": "chisquare"}


@dataclass(frozen=True)
class Scenario:
    name: str
    kind: str
    reference: np.ndarray
    current: np.ndarray


LEVELS = np.array(["a", "b", "c", "d", "e"], dtype=object)
LEVEL_SHARES = np.array([0.35, 0.25, 0.2, 0.15, 0.05])


def scenarios(rows: int, seed: int) -> list[Scenario]:
    """Numeric: normal features, none to clear shifts, and a skewed one; categorical: five levels."""
    rng = np.random.default_rng(seed)
    normal = lambda mean=0.0, std=1.0: rng.normal(mean, std, rows)  # noqa: E731
    levels, base = LEVELS, LEVEL_SHARES
    pick = lambda shares, labels=levels: rng.choice(labels, size=rows, p=np.asarray(shares) / np.sum(shares))  # noqa: E731
    return [
        Scenario("no shift", "numeric", normal(), normal()),
        Scenario("mean +0.05 sd", "numeric", normal(), normal(0.05)),
        Scenario("mean +0.2 sd", "numeric", normal(), normal(0.2)),
        Scenario("mean +0.35 sd", "numeric", normal(), normal(0.35)),
        Scenario("sd x1.2", "numeric", normal(), normal(0.0, 1.2)),
        Scenario("2% moved to +4 sd", "numeric", normal(), np.where(rng.random(rows) < 0.02, 4.0, normal())),
        Scenario("lognormal, sigma 1 -> 1.1", "numeric", rng.lognormal(0, 1, rows), rng.lognormal(0, 1.1, rows)),
        Scenario("no shift", "categorical", pick(base), pick(base)),
        Scenario("shares moved 3 points", "categorical", pick(base), pick([0.32, 0.25, 0.2, 0.15, 0.08])),
        Scenario(
            "new level at 1%",
            "categorical",
            pick(base),
            pick([*(base * 0.99), 0.01], np.append(levels, "f")),
        ),
    ]


def undrifted(rows: int, seed: int, repeats: int) -> list[Scenario]:
    """Pairs drawn from one distribution: every drift verdict on them is a false alarm."""
    rng = np.random.default_rng(seed + 1)
    cases = []
    for _ in range(repeats):
        cases.append(Scenario("no shift", "numeric", rng.normal(0, 1, rows), rng.normal(0, 1, rows)))
        draws = [rng.choice(LEVELS, size=rows, p=LEVEL_SHARES) for _ in range(2)]
        cases.append(Scenario("no shift", "categorical", *draws))
    return cases


# -- Evidently's side (runs in Evidently's venv: numpy, pandas and evidently only) --------------


def evidently_scores(arrays: Path) -> list[dict[str, object]]:
    import pandas as pd
    from evidently.legacy.calculations.stattests.registry import get_stattest
    from evidently.legacy.core import ColumnType

    results = []
    # A category the reference lacks is expected 0 times in Evidently's chi-square: scipy warns
    # of the division by zero and answers an infinite statistic (p = 0), which is the figure.
    warnings.simplefilter("ignore", RuntimeWarning)
    with np.load(arrays, allow_pickle=True) as data:
        for index, kind in enumerate(data["kinds"]):
            reference = pd.Series(data[f"reference_{index}"])
            current = pd.Series(data[f"current_{index}"])
            column_type = ColumnType.Numerical if kind == "numeric" else ColumnType.Categorical
            methods = NUMERIC_METHODS if kind == "numeric" else CATEGORICAL_METHODS
            for method, test_name in methods.items():
                test = get_stattest(reference, current, column_type.value, test_name)
                result = test(reference, current, column_type, None)
                results.append(
                    {
                        "scenario": index,
                        "method": method,
                        "score": float(result.drift_score),
                        "drifted": bool(result.drifted),
                        "threshold": float(result.actual_threshold),
                    }
                )
    return results


# -- Ballast's side ------------------------------------------------------------------------------


def evidently_python(version: str) -> Path:
    return peer_venvs.peer_python("evidently", version, (f"evidently=={version}", *EVIDENTLY_EXTRA_REQUIREMENTS))


def run_evidently(python: Path, cases: list[Scenario]) -> list[dict[str, object]]:
    with tempfile.TemporaryDirectory() as scratch:
        arrays = Path(scratch) / "arrays.npz"
        np.savez(
            arrays,
            kinds=np.array([case.kind for case in cases]),
            **{f"reference_{i}": case.reference for i, case in enumerate(cases)},
            **{f"current_{i}": case.current for i, case in enumerate(cases)},
        )
        answer = subprocess.run(
            [str(python), __file__, "--evidently-side", str(arrays)], check=True, stdout=subprocess.PIPE, text=True
        )
    results: list[dict[str, object]] = json.loads(answer.stdout)
    return results


def threshold_for_evidently(method: str, evidently_threshold: float, case: Scenario) -> float:
    """Evidently's threshold on Ballast's scale: the same value where the scores are the same
    quantity; JS converted from natural-log to base-2 units; chi-square's p-value threshold
    for the homogeneity test at which its statistic matches Evidently's goodness-of-fit
    statistic's critical value (homogeneity ~ goodness of fit * n / (n + m) for small shifts)."""
    if method == "jensenShannon":
        return evidently_threshold / math.sqrt(math.log(2))
    if method == "chiSquare":
        from scipy.stats import chi2

        degrees = len(set(case.reference) | set(case.current)) - 1
        n, m = len(case.reference), len(case.current)
        return float(chi2.sf(chi2.isf(evidently_threshold, degrees) * n / (n + m), degrees))
    return evidently_threshold


@dataclass(frozen=True)
class Row:
    case: int
    scenario: str
    kind: str
    method: str
    ballast: float
    ballast_drifted: bool
    evidently: float
    evidently_drifted: bool
    carried_threshold: float
    carried_agrees: bool


def compare(cases: list[Scenario], evidently: list[dict[str, object]]) -> list[Row]:
    from ballast.drift import compare_samples

    rows = []
    for answer in evidently:
        case = cases[int(str(answer["scenario"]))]
        method = str(answer["method"])
        ours = compare_samples(method, case.reference, case.current, kind=case.kind)
        carried = threshold_for_evidently(method, float(str(answer["threshold"])), case)
        at_carried = compare_samples(method, case.reference, case.current, kind=case.kind, threshold=carried)
        assert ours.score is not None, ours.reason
        rows.append(
            Row(
                case=int(str(answer["scenario"])),
                scenario=case.name,
                kind=case.kind,
                method=method,
                ballast=ours.score,
                ballast_drifted=bool(ours.drifted),
                evidently=float(str(answer["score"])),
                evidently_drifted=bool(answer["drifted"]),
                carried_threshold=carried,
                carried_agrees=at_carried.drifted == bool(answer["drifted"]),
            )
        )
    return rows


def figure(value: float) -> str:
    if math.isinf(value) or value == 0 or 1e-3 <= abs(value) < 1e4:
        return f"{value:.4g}"
    return f"{value:.2e}"


def markdown_table(rows: list[Row]) -> str:
    verdict = lambda drifted: "drift" if drifted else "-"  # noqa: E731
    lines = [
        "| scenario | kind | method | Ballast score | Evidently score | Ballast verdict | Evidently verdict "
        "| Ballast threshold for Evidently's verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.scenario} | {row.kind} | `{row.method}` | {figure(row.ballast)} | {figure(row.evidently)} "
            f"| {verdict(row.ballast_drifted)} | {verdict(row.evidently_drifted)} "
            f"| {figure(row.carried_threshold)} {'ok' if row.carried_agrees else 'differs'} |"
        )
    differ = sum(row.ballast_drifted != row.evidently_drifted for row in rows)
    carried = sum(not row.carried_agrees for row in rows)
    lines.append("")
    lines.append(
        f"At each tool's default threshold {differ} of {len(rows)} verdicts differ; with Evidently's "
        f"threshold carried over to Ballast's scale, {carried} {'differs' if carried == 1 else 'differ'}."
    )
    return "\n".join(lines)


def false_alarm_table(rows: list[Row], repeats: int) -> str:
    """The share of undrifted pairs each tool calls drifted, per method."""
    lines = [
        f"False alarms on {repeats} pairs drawn from one distribution (N(0, 1); the five levels' shares):",
        "",
        "| kind | method | Ballast, default threshold | Evidently, default threshold "
        "| Ballast, Evidently's threshold carried over |",
        "|---|---|---|---|---|",
    ]
    for kind, method in dict.fromkeys((row.kind, row.method) for row in rows):
        same = [row for row in rows if (row.kind, row.method) == (kind, method)]
        share = lambda drifted: f"{sum(drifted) / len(same):.0%}"  # noqa: E731
        carried = [row.evidently_drifted if row.carried_agrees else not row.evidently_drifted for row in same]
        lines.append(
            f"| {kind} | `{method}` | {share([row.ballast_drifted for row in same])} "
            f"| {share([row.evidently_drifted for row in same])} | {share(carried)} |"
        )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=100, help="undrifted pairs per kind, for false alarms")
    parser.add_argument("--evidently-version", default=EVIDENTLY_VERSION)
    figures.add_update_option(parser, FIGURES)
    parser.add_argument("--evidently-side", type=Path, help=argparse.SUPPRESS)
    return parser


def main() -> None:
    args = build_parser().parse_args()
    if args.evidently_side:
        print(json.dumps(evidently_scores(args.evidently_side)))
        return
    if args.update:
        figures.check_section(FIGURES)
        context = figures.run_context()
    cases = scenarios(args.rows, args.seed)
    everything = cases + undrifted(args.rows, args.seed, args.repeats)
    rows = compare(everything, run_evidently(evidently_python(args.evidently_version), everything))
    shown = [row for row in rows if row.case < len(cases)]
    repeated = [row for row in rows if row.case >= len(cases)]
    command = f"benchmarks/evidently_compare.py --rows {args.rows} --seed {args.seed} --repeats {args.repeats}"
    tables = f"{markdown_table(shown)}\n\n{false_alarm_table(repeated, args.repeats)}"
    print(f"Printed by `.venv/bin/python {command}` (Evidently {args.evidently_version}):\n\n{tables}")
    if args.update:
        # Markdown tables, shown as tables in the doc; Evidently's version is part of the figures
        body = f"Evidently {args.evidently_version}:\n\n{tables}"
        figures.write_section(FIGURES, figures.report_block(context, body, fenced=False))


if __name__ == "__main__":
    main()
