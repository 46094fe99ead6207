"""The operator's drift gauges: distances and test statistics in ballast_drift_feature_score,
p-values only in ballast_drift_feature_pvalue, so neither mixes two scales."""

from __future__ import annotations

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from ballast.drift.checks import CheckOutcome, FeatureOutcome
from ballast.drift.compare import compare_binned
from ballast.drift.evaluation import Evaluation
from ballast.drift_metrics import DriftGauges
from ballast.reasons.driftpolicy import Check, Verdict

REFERENCE = np.array([100.0, 200.0, 400.0, 200.0, 100.0])
SHIFTED = np.array([40.0, 80.0, 200.0, 300.0, 380.0])
EDGES = [1.0, 2.0, 3.0, 4.0]


def outcome(feature: str, method: str, kind: str = "numeric") -> FeatureOutcome:
    verdict = compare_binned(method, REFERENCE, SHIFTED, kind=kind, edges=EDGES)
    return FeatureOutcome(
        feature,
        kind,
        method,
        verdict.score,
        verdict.threshold,
        verdict.drifted,
        float(SHIFTED.sum()),
        statistic=verdict.statistic,
        p_value=verdict.p_value,
    )


def samples(gauges: DriftGauges) -> dict[str, dict[tuple[str, str], float]]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(gauges)
    found: dict[str, dict[tuple[str, str], float]] = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        found.setdefault(family.name, {})
        for sample in family.samples:
            found[family.name][(sample.labels.get("feature", ""), sample.labels.get("method", ""))] = sample.value
    return found


@pytest.mark.parametrize("method", ["ks", "chiSquare"])
def test_a_tests_score_is_its_p_value_and_its_statistic_is_kept_apart(method):
    kind = "numeric" if method == "ks" else "categorical"
    verdict = compare_binned(method, REFERENCE, SHIFTED, kind=kind, edges=EDGES)
    assert verdict.p_value == verdict.score and 0.0 <= verdict.p_value < 0.05
    assert verdict.statistic == verdict.details["statistic"] and verdict.statistic > verdict.p_value


@pytest.mark.parametrize("method", ["psi", "jensenShannon", "wasserstein"])
def test_a_distance_has_no_p_value(method):
    verdict = compare_binned(method, REFERENCE, SHIFTED, kind="numeric", edges=EDGES)
    assert verdict.p_value is None
    assert verdict.statistic == verdict.score > 0


def test_distances_and_statistics_are_scores_and_only_tests_have_p_values():
    features = [outcome("income", "psi"), outcome("age", "ks"), outcome("city", "chiSquare", "categorical")]
    evaluation = Evaluation(
        verdict=Verdict.DRIFT,
        rows=1000.0,
        checks=[CheckOutcome(Check.FEATURE_DRIFT, Verdict.DRIFT, score=1.0, threshold=0.5, features=features)],
    )
    gauges = DriftGauges()
    gauges.record("ml", "credit-drift", "credit-risk", evaluation)
    found = samples(gauges)
    by_name = {f.feature: f for f in features}
    assert found["ballast_drift_feature_score"] == {
        ("income", "psi"): pytest.approx(by_name["income"].score),
        ("age", "ks"): pytest.approx(by_name["age"].statistic),
        ("city", "chiSquare"): pytest.approx(by_name["city"].statistic),
    }
    assert found["ballast_drift_feature_pvalue"] == {
        ("age", "ks"): pytest.approx(by_name["age"].score),
        ("city", "chiSquare"): pytest.approx(by_name["city"].score),
    }
    # the KS statistic D of a shift this large is far above its p-value: the two were not swapped
    assert (
        found["ballast_drift_feature_score"][("age", "ks")] > 0.1 > found["ballast_drift_feature_pvalue"][("age", "ks")]
    )


def test_both_families_are_declared_before_any_evaluation():
    """A scrape of a fresh operator names them, so the dashboard's queries read existing series."""
    found = samples(DriftGauges())
    assert found["ballast_drift_feature_score"] == {} and found["ballast_drift_feature_pvalue"] == {}
