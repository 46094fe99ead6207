"""Bare fit time of a small model, beside the whole of train_model for the same run.

    .venv/bin/python benchmarks/train_fit.py [--repeats 20]

Prints the median and p90 of: HistGradientBoostingClassifier.fit alone on breast_cancer's
raw numpy arrays (the figure the TrainingRun-to-ModelVersion benchmark compares against), the
same fit inside Ballast's pipeline, and train_model end to end (split, fit, metrics, skops
dump, canonicalisation, sha256, verified reload). Not a test: nothing here asserts a budget.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable

import sklearn
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import HistGradientBoostingClassifier

import figures
from ballast.api.dataset import DatasetSchema
from ballast.api.trainingrun import TrainingRunSpec
from ballast.training import DatasetIdentity, train_model
from ballast.training.estimators import build_estimator
from ballast.training.features import feature_columns, feature_frame
from ballast.training.preprocessing import build_pipeline

ESTIMATOR = "sklearn.ensemble.HistGradientBoostingClassifier"


def _timed(action: Callable[[], object], repeats: int) -> list[float]:
    action()  # warm-up: imports, OpenMP thread pool
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return samples


def _report(label: str, samples: list[float]) -> None:
    ordered = sorted(samples)
    p90 = ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]
    print(f"{label:<44} median {statistics.median(samples) * 1000:8.1f} ms   p90 {p90 * 1000:8.1f} ms")


FIGURES = figures.Section("train_fit", figures.BENCHMARKS_DOC)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    figures.add_update_option(parser, FIGURES)
    return parser


def run(args: argparse.Namespace) -> None:
    repeats = args.repeats

    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.frame.rename(columns=lambda c: c.replace(" ", "_"))
    schema = DatasetSchema.model_validate(
        {
            "columns": [{"name": c, "type": "float"} for c in frame.columns if c != "target"]
            + [{"name": "target", "type": "integer"}],
            "target": "target",
        }
    )
    spec = TrainingRunSpec.model_validate(
        {"model": "bench", "datasetRef": {"name": "bench"}, "estimator": ESTIMATOR, "seed": 0}
    )
    x, y = bunch.data.to_numpy(), bunch.target.to_numpy()
    columns = feature_columns(schema)
    features = feature_frame(frame, columns)

    print(f"breast_cancer {x.shape[0]} rows x {x.shape[1]} features; {ESTIMATOR} defaults (max_iter=100)")
    print(
        f"python {platform.python_version()}, scikit-learn {sklearn.__version__}, {os.cpu_count()} CPUs, "
        f"{repeats} repeats"
    )
    _report(
        "bare fit (numpy arrays)", _timed(lambda: HistGradientBoostingClassifier(random_state=0).fit(x, y), repeats)
    )
    _report(
        "fit in Ballast's pipeline (all rows)",
        _timed(
            lambda: build_pipeline(ESTIMATOR, build_estimator(ESTIMATOR, {}, 0), columns).fit(
                features, frame["target"]
            ),
            repeats,
        ),
    )
    outcome = train_model(spec, frame, schema, DatasetIdentity("bench", "0" * 64))
    _report(
        "train_model end to end (80% split)",
        _timed(lambda: train_model(spec, frame, schema, DatasetIdentity("bench", "0" * 64)), repeats),
    )
    print(
        f"artifact {len(outcome.artifact.data)} bytes, sha256 {outcome.artifact.sha256[:16]}..., "
        f"accuracy {outcome.metrics['accuracy']:.4f}, fit inside train_model {outcome.fit_seconds * 1000:.1f} ms"
    )


if __name__ == "__main__":
    sys.exit(figures.run_benchmark(FIGURES, build_parser(), run))
