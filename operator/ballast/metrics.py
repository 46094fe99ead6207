"""The operator's own Prometheus metrics. Names and labels are part of Ballast's interface."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

RECONCILIATIONS = Counter(
    "ballast_reconciliations_total",
    "Reconciliations of Ballast objects, by kind and result.",
    ["kind", "result"],
)
RECONCILE_SECONDS = Histogram(
    "ballast_reconcile_duration_seconds",
    "Time spent in one reconciliation, by kind.",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
