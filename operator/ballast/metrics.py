"""The operator's own Prometheus metrics. Names and labels are part of Ballast's interface."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

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
RECONCILE_QUEUE_SECONDS = Histogram(
    "ballast_reconcile_queue_seconds",
    "Time an object waited in the work queue past its due time before a worker took it, by kind.",
    ["kind"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
DRIFT_FIRINGS = Counter(
    "ballast_drift_firings_total",
    "DriftPolicy firings, by the action they took (retrain or notify).",
    ["namespace", "policy", "model", "action"],
)
RETRAINS = Counter(
    "ballast_retrains_total",
    "Retrainings started by DriftPolicies, by what became of them: created, then promoted, "
    "rejected (did not beat the champion), rolledBack (failed its canary) or failed.",
    ["namespace", "policy", "model", "result"],
)
ROLLOUTS = Counter(
    "ballast_rollouts_total",
    "ModelVersions that reached Production (promoted) or were rolled back.",
    ["namespace", "model", "result"],
)
TRAINING_RUNS = Counter(
    "ballast_training_runs_total",
    "TrainingRuns that finished, by result (succeeded or failed).",
    ["namespace", "model", "result"],
)
LEADER = Gauge(
    "ballast_leader",
    "1 while this replica holds the leader Lease and reconciles, 0 while it stands by "
    "(always 1 with leader election off).",
)
TRACKING_ATTEMPTS = Counter(
    "ballast_tracking_attempts_total",
    "Attempts to log a finished TrainingRun to the tracking server, by their Tracked reason "
    "(Logged, TrackingServerUnreachable, TrackingRefused).",
    ["namespace", "result"],
)
AUDIT_APPEND_FAILURES = Counter(
    "ballast_audit_append_failures_total",
    "Decisions the store refused to append to the audit trail (each also a Warning Event AuditUnavailable).",
    ["namespace"],
)
