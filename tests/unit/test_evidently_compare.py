"""The relations docs/drift.md states between Ballast's scores and Evidently's, checked against
the scipy calls Evidently's stat tests make (evidently.legacy.calculations.stattests, 0.7.23),
and the pure parts of benchmarks/evidently_compare.py, which runs Evidently itself."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial import distance
from scipy.stats import chisquare, wasserstein_distance

from ballast.drift import BinCounts, chi_square, chi_square_binned, compare_samples, jensen_shannon_categorical
from tests.support.scripts import load_script

ROOT = Path(__file__).resolve().parents[2]


script = load_script(ROOT / "benchmarks" / "evidently_compare.py")
LEVELS = np.array(["a", "b", "c", "d", "e"], dtype=object)


@pytest.fixture
def categories():
    rng = np.random.default_rng(5)
    reference = rng.choice(LEVELS, 10_000, p=[0.35, 0.25, 0.2, 0.15, 0.05])
    current = rng.choice(LEVELS, 8_000, p=[0.32, 0.25, 0.2, 0.15, 0.08])
    counts = lambda values: np.array([(values == level).sum() for level in LEVELS])  # noqa: E731
    return reference, current, counts(reference), counts(current)


def test_jensen_shannon_is_evidentlys_natural_log_distance_over_sqrt_ln_2(categories):
    reference, current, reference_counts, current_counts = categories
    evidently = distance.jensenshannon(reference_counts / len(reference), current_counts / len(current))
    ours = jensen_shannon_categorical(reference, current).score
    assert ours == pytest.approx(evidently / math.sqrt(math.log(2)), rel=1e-12)


def test_the_goodness_of_fit_form_is_evidentlys_chi_square(categories):
    reference, current, reference_counts, current_counts = categories
    evidently = chisquare(current_counts, reference_counts * len(current) / len(reference))
    ours = chi_square_binned(BinCounts.from_ratios(reference_counts / len(reference)), current_counts)
    assert ours.details["test"] == "goodnessOfFit"
    assert ours.score == pytest.approx(evidently.statistic, rel=1e-12)
    assert ours.p_value == pytest.approx(evidently.pvalue, rel=1e-9)
    # the raw form tests homogeneity: a smaller statistic on the same counts
    assert chi_square(reference, current).score < 0.6 * evidently.statistic


def test_normed_wasserstein_is_evidentlys():
    rng = np.random.default_rng(6)
    reference, current = rng.normal(0, 2, 5_000), rng.normal(0.3, 2, 4_000)
    evidently = wasserstein_distance(reference, current) / max(np.std(reference), 0.001)
    assert compare_samples("wasserstein", reference, current, kind="numeric").score == pytest.approx(evidently)


def case(kind: str, reference, current):
    return script.Scenario("test", kind, np.asarray(reference), np.asarray(current))


def test_evidentlys_thresholds_carried_over_to_ballasts_scale():
    numeric = case("numeric", [0.0, 1.0], [0.0, 1.0])
    assert script.threshold_for_evidently("jensenShannon", 0.1, numeric) == pytest.approx(0.1201, abs=1e-4)
    assert script.threshold_for_evidently("psi", 0.1, numeric) == 0.1
    five_levels = case("categorical", np.tile(LEVELS, 20), np.tile(LEVELS, 20))
    # critical value 9.49 at 4 degrees of freedom, halved at equal sizes: p = 0.31
    assert script.threshold_for_evidently("chiSquare", 0.05, five_levels) == pytest.approx(0.3146, abs=1e-4)
