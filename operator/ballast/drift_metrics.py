"""The latest evaluation of every DriftPolicy as gauges, rendered at scrape time.

A collector rather than labelled Gauges: when a policy is deleted, or a feature leaves the
model, its series disappear with it instead of lingering at their last value.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from prometheus_client.core import REGISTRY, GaugeMetricFamily
from prometheus_client.registry import Collector

from ballast.drift.evaluation import Evaluation
from ballast.reasons.driftpolicy import Verdict

POLICY_LABELS = ("namespace", "policy", "model")


class DriftGauges(Collector):
    def __init__(self) -> None:
        self._latest: dict[tuple[str, str, str], Evaluation] = {}
        self._lock = threading.Lock()

    def record(self, namespace: str, policy: str, model: str, evaluation: Evaluation) -> None:
        with self._lock:
            self._latest[(namespace, policy, model)] = evaluation

    def forget(self, namespace: str, policy: str) -> None:
        with self._lock:
            for key in [key for key in self._latest if key[:2] == (namespace, policy)]:
                del self._latest[key]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        score = GaugeMetricFamily(
            "ballast_drift_score",
            "The latest score of each DriftPolicy check "
            "(a share of drifted features, a distance, a rate, an accuracy or a fairness difference).",
            labels=[*POLICY_LABELS, "check"],
        )
        detected = GaugeMetricFamily(
            "ballast_drift_detected",
            "1 when the check found drift in the latest window.",
            labels=[*POLICY_LABELS, "check"],
        )
        # Two families because the two scales run opposite ways: a query over every method
        # (max by feature) must not mix a distance, where higher is drift, with a p-value.
        feature = GaugeMetricFamily(
            "ballast_drift_feature_score",
            "The latest drift statistic of each feature: a distance (psi, jensenShannon, wasserstein "
            "normed by the reference's std) or a test's statistic (ks D, chiSquare X²); higher is further.",
            labels=[*POLICY_LABELS, "feature", "method"],
        )
        pvalue = GaugeMetricFamily(
            "ballast_drift_feature_pvalue",
            "The latest p-value of each feature judged by a test (ks, chiSquare); lower is drift.",
            labels=[*POLICY_LABELS, "feature", "method"],
        )
        with self._lock:
            latest = dict(self._latest)
        for key, evaluation in latest.items():
            for check in evaluation.checks:
                if check.score is not None:
                    score.add_metric([*key, check.name], check.score)
                detected.add_metric([*key, check.name], 1.0 if check.verdict == Verdict.DRIFT else 0.0)
            for result in evaluation.features:
                if result.statistic is not None:
                    feature.add_metric([*key, result.feature, result.method], result.statistic)
                if result.p_value is not None:
                    pvalue.add_metric([*key, result.feature, result.method], result.p_value)
        yield from (score, detected, feature, pvalue)

    def describe(self) -> list:
        return []  # collected lazily: nothing to check at registration


DRIFT_GAUGES = DriftGauges()
REGISTRY.register(DRIFT_GAUGES)
