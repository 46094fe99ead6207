"""Drift checks over 1M rows x 100 features from raw data, and one evaluation from bucket counts.

    .venv/bin/python benchmarks/drift_checks.py [--rows 1000000] [--features 100] [--categorical 20]

Raw: a reference and a current window of `--rows` rows each, `--features` columns of which
`--categorical` are categorical (object arrays of strings, 5 to 45 levels) and the rest
numeric (float64, a fifth of them with 1% NaN, some shifted in the current window). Every
method of the feature's kind runs on every feature: numeric psi, jensenShannon, wasserstein,
ks; categorical psi, jensenShannon, chiSquare. The data is generated first (untimed); the
features are then checked side by side on `--workers` threads, and the wall time of all of it
(preparing both samples: dropping NaN and sorting numbers, counting categories; then every
statistic) is the figure that counts. Per-step times are summed over features.

Binned: the same 100 features as the model server exports them (11 bucket edges per numeric
feature, reference ratios plus a reference size, window counts), every method per feature:
what one policy evaluation costs after the scrape. Prints wall times and peak RSS; asserts no
budget (docs/benchmarks.md: all checks under 10 s raw, milliseconds from counters).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import figures
from ballast.drift import (
    BinCounts,
    category_sample,
    compare_binned,
    compare_samples,
    count_into_buckets,
    numeric_sample,
    quantile_edges,
)
from ballast.drift.defaults import CATEGORICAL_METHODS, NUMERIC_METHODS


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def numeric_column(rng: np.random.Generator, rows: int, index: int, shifted: bool) -> np.ndarray:
    values = rng.normal(index + (0.3 if shifted else 0.0), 1 + index / 50, rows)
    if index % 5 == 0:
        values[rng.random(rows) < 0.01] = np.nan
    return values


def categorical_column(rng: np.random.Generator, rows: int, index: int, shifted: bool) -> np.ndarray:
    levels = np.array([f"level-{i}" for i in range(5 + 10 * (index % 5))], dtype=object)
    weights = np.linspace(1.0, 2.0 if shifted else 1.5, len(levels))
    return rng.choice(levels, size=rows, p=weights / weights.sum())


def raw_checks(rows: int, features: int, categorical: int, seed: int, workers: int) -> None:
    rng = np.random.default_rng(seed)
    kinds = ["categorical" if i < categorical else "numeric" for i in range(features)]
    tick = time.perf_counter()
    columns = [
        (
            (categorical_column if kind == "categorical" else numeric_column)(rng, rows, i, False),
            (categorical_column if kind == "categorical" else numeric_column)(rng, rows, i, i % 3 == 0),
        )
        for i, kind in enumerate(kinds)
    ]
    generated = time.perf_counter() - tick

    def one_feature(i: int) -> tuple[dict[str, float], int]:
        """Every check of one feature; features are independent, so they run side by side
        (numpy's sorts and searches release the GIL)."""
        kind, (reference, current) = kinds[i], columns[i]
        spent, drifted = {}, 0
        prepare = category_sample if kind == "categorical" else numeric_sample
        tick = time.perf_counter()
        reference = prepare(reference)
        spent["prepare reference"] = time.perf_counter() - tick
        tick = time.perf_counter()
        current = prepare(current)
        spent["prepare current window"] = time.perf_counter() - tick
        for method in CATEGORICAL_METHODS if kind == "categorical" else NUMERIC_METHODS:
            tick = time.perf_counter()
            drifted += bool(compare_samples(method, reference, current, kind=kind).drifted)
            spent[f"{kind} {method}"] = time.perf_counter() - tick
        return spent, drifted

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(one_feature, range(features)))
    wall = time.perf_counter() - started
    spent: dict[str, float] = defaultdict(float)
    for timings, _ in results:
        for label, seconds in timings.items():
            spent[label] += seconds
    drifted = sum(count for _, count in results)
    numeric = features - categorical
    print(
        f"raw: {rows:,} rows x {features} features ({numeric} numeric, {categorical} categorical), "
        f"reference and current window of {rows:,} rows each, {workers} worker thread(s)"
    )
    print("  time in each step, summed over features (threads overlap, so these add up to more than the wall time):")
    for label, seconds in spent.items():
        print(f"    {label:<30} {seconds:8.2f} s")
    print(f"  {'(generating the data, not counted)':<32} {generated:8.2f} s")
    print(f"  {'wall time, all checks':<32} {wall:8.2f} s   (reference prepared in it too)")
    print(
        f"  verdicts: {drifted} of {numeric * 4 + categorical * 3} (feature, method) pairs drifted;"
        f" peak RSS {peak_rss_mib():.0f} MiB (the generated data included)"
    )


def binned_checks(features: int, categorical: int, seed: int, repeats: int) -> None:
    rng = np.random.default_rng(seed)
    inputs = []
    for i in range(features):
        if i < categorical:
            levels = 5 + 10 * (i % 5) + 2  # named values, __other__, __unseen__
            ratios = rng.dirichlet(np.ones(levels))
            ratios[-1] = 0.0  # training never has unseen values
            inputs.append(
                (
                    "categorical",
                    BinCounts.from_ratios(ratios / ratios.sum(), size=1_000_000),
                    rng.integers(0, 5_000, levels),
                    None,
                )
            )
        else:
            sample = numeric_sample(rng.normal(size=2_000))
            edges = quantile_edges(sample)
            reference = count_into_buckets(sample, edges)
            inputs.append(
                (
                    "numeric",
                    BinCounts.from_ratios(reference.shares, size=reference.size),
                    rng.integers(0, 5_000, len(edges) + 1),
                    edges,
                )
            )
    started = time.perf_counter()
    for _ in range(repeats):
        for kind, reference, counts, edges in inputs:
            for method in CATEGORICAL_METHODS if kind == "categorical" else NUMERIC_METHODS:
                compare_binned(method, reference, counts, kind=kind, edges=edges)
    per_evaluation = (time.perf_counter() - started) / repeats
    checks = (features - categorical) * 4 + categorical * 3
    print(f"binned: {features} features, every method ({checks} comparisons) from counts and reference ratios")
    print(
        f"  one evaluation                   {per_evaluation * 1000:8.2f} ms "
        f"({per_evaluation / checks * 1e6:.0f} us per comparison; mean of {repeats})"
    )


FIGURES = figures.Section("drift_checks", figures.BENCHMARKS_DOC)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument("--categorical", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="threads over features")
    figures.add_update_option(parser, FIGURES)
    return parser


def run(args: argparse.Namespace) -> None:
    print(
        f"drift benchmark; Python {platform.python_version()}, numpy {np.__version__}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f} (other work on the machine inflates every figure)"
    )
    binned_checks(args.features, args.categorical, args.seed, args.repeats)
    raw_checks(args.rows, args.features, args.categorical, args.seed, args.workers)


if __name__ == "__main__":
    sys.exit(figures.run_benchmark(FIGURES, build_parser(), run))
