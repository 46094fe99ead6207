"""kopf handlers for DriftPolicy: read the Production version's counters when an evaluation is
due, let ballast.reconcile.driftpolicy decide, and carry out what it decided."""

from __future__ import annotations

from datetime import datetime, timedelta

import kopf

from ballast.api.kinds import DRIFT_POLICY, GROUP, VERSION
from ballast.canary.scrape import scrape_by_address
from ballast.drift.counters import Reading, Window, parse_metrics, window_between
from ballast.drift.prometheus import PrometheusError, window_from_prometheus
from ballast.drift_metrics import DRIFT_GAUGES
from ballast.handlers.apply import apply_outcome, plain_body
from ballast.handlers.context import SETTINGS, current_settings, now
from ballast.handlers.indexes import one_of
from ballast.handlers.instrumented import instrumented
from ballast.handlers.serving_pods import owned_pod_addresses
from ballast.metrics import DRIFT_FIRINGS, RETRAINS
from ballast.net.slots import NamespaceSlots
from ballast.reconcile.driftpolicy import (
    DriftObservation,
    evaluation_due,
    reconcile_drift_policy,
    resumed_window_start,
)

WINDOW_MEMO = "drift_window"
MIN_WINDOW = timedelta(milliseconds=1)
"""PromQL's resolution: a shorter window has no range to query."""
OUTBOUND_READS = NamespaceSlots(per_namespace=2)
"""A namespace's policies read Prometheus or their pods two at a time: however many policies
point at a slow server, they hold two of the handler threads every namespace shares
(controller.HANDLER_THREADS)."""


@kopf.on.resume(GROUP, VERSION, "driftpolicies")
@kopf.on.create(GROUP, VERSION, "driftpolicies")
@kopf.on.update(GROUP, VERSION, "driftpolicies", field="spec")
@kopf.timer(GROUP, VERSION, "driftpolicies", interval=SETTINGS.poll_interval_seconds)
@instrumented(DRIFT_POLICY)
def reconcile(
    body: kopf.Body,
    patch: kopf.Patch,
    memo: kopf.Memo,
    production_versions: kopf.Index,
    model_versions: kopf.Index,
    policy_runs: kopf.Index,
    ballast_datasets: kopf.Index,
    serving_pods: kopf.Index,
    serving_replica_sets: kopf.Index,
    ballast_deployments: kopf.Index,
    **_,
) -> None:
    namespace, spec, status = body.metadata.namespace, body.spec, dict(body.status)
    moment = now()
    production = one_of(production_versions, (namespace, spec["model"]))
    version = production["metadata"]["name"] if production else None
    window, started_at, problem = None, None, None
    prometheus = (spec.get("source") or {}).get("prometheusUrl") or SETTINGS.prometheus_url
    due = evaluation_due(status, dict(spec), moment, version, min_interval_seconds=SETTINGS.drift_min_interval_seconds)
    if due:
        with OUTBOUND_READS.slot(namespace) as may_read:
            if not may_read:
                # The namespace's other policies are reading: this one reads at its next turn.
                due = False
            elif prometheus:
                window, started_at, problem = _window_from_prometheus(
                    memo,
                    prometheus,
                    namespace,
                    spec["model"],
                    version,
                    moment,
                    resumed_window_start(status, dict(spec), moment, version),
                )
            else:
                readings = _read_pods(
                    owned_pod_addresses(
                        namespace,
                        version,
                        production["metadata"].get("uid"),
                        serving_pods=serving_pods,
                        serving_replica_sets=serving_replica_sets,
                        ballast_deployments=ballast_deployments,
                    )
                )
                window, started_at = _window_since_start(memo, version, readings, moment)
    if not due and version is not None and _memo_window(memo, version) is not None:
        started_at = memo[WINDOW_MEMO]["started_at"]
    template = ((spec.get("action") or {}).get("retrain") or {}).get("template") or {}
    dataset_name = ((template.get("spec") or {}).get("datasetRef") or {}).get("name")
    decision = reconcile_drift_policy(
        DriftObservation(
            body=plain_body(body),
            now=moment,
            production=production,
            window=window,
            window_started_at=started_at,
            window_problem=problem,
            runs=list(policy_runs.get((namespace, body.metadata.name), [])),
            dataset=one_of(ballast_datasets, (namespace, dataset_name)) if dataset_name else None,
            stages={s.name: s.stage for s in model_versions.get((namespace, spec["model"]), [])},
            settings=SETTINGS,
        )
    )
    if decision.restart_window and window is not None:
        memo[WINDOW_MEMO] = {
            "version": version,
            "readings": memo[WINDOW_MEMO].get("latest"),
            "latest": None,
            "started_at": moment,
        }
    apply_outcome(body, patch, decision.outcome, SETTINGS)
    _export(namespace, body.metadata.name, spec["model"], decision)


@kopf.on.delete(GROUP, VERSION, "driftpolicies", optional=True)
def forget(namespace: str, name: str, **_) -> None:
    DRIFT_GAUGES.forget(namespace, name)


def _read_pods(addresses: list[str]) -> dict[str, Reading]:
    return {address: parse_metrics(text) for address, text in scrape_by_address(addresses).items()}


def _memo_window(memo: kopf.Memo, version: str) -> dict | None:
    window = memo.get(WINDOW_MEMO)
    return window if window and window["version"] == version else None


def _window_since_start(
    memo: kopf.Memo, version: str, readings: dict[str, Reading], moment: datetime
) -> tuple[Window | None, datetime]:
    """The window from the readings kept at its start to these; a first reading (a new
    version, or an operator that restarted and lost its memory) starts a window instead."""
    start = _memo_window(memo, version)
    if start is None:
        memo[WINDOW_MEMO] = {"version": version, "readings": readings, "latest": readings, "started_at": moment}
        return None, moment
    start["latest"] = readings
    return window_between(start["readings"], readings), start["started_at"]


def _window_from_prometheus(
    memo: kopf.Memo,
    url: str,
    namespace: str,
    model: str,
    version: str,
    moment: datetime,
    resumed_start: datetime | None,
) -> tuple[Window | None, datetime, tuple[str, str] | None]:
    """Prometheus keeps the counters: only the window's start time is remembered, here and in
    status, so a restarted operator goes on with the window status names."""
    start = _memo_window(memo, version)
    if start is None:
        memo[WINDOW_MEMO] = {
            "version": version,
            "readings": None,
            "latest": None,
            "started_at": resumed_start or moment,
        }
        if resumed_start is None or resumed_start >= moment:
            return None, moment, None
        start = memo[WINDOW_MEMO]
    if moment - start["started_at"] < MIN_WINDOW:
        # Another handler of this policy (its create and its timer can run at the same moment)
        # started the window just now: nothing to ask Prometheus about yet.
        return None, start["started_at"], None
    try:
        return (
            window_from_prometheus(
                url,
                namespace,
                model,
                version,
                start["started_at"],
                moment,
                timeout=SETTINGS.prometheus_deadline_seconds,
                egress=current_settings().prometheus_egress,
            ),
            start["started_at"],
            None,
        )
    except PrometheusError as error:
        return None, start["started_at"], (error.reason, str(error)[:1024])


def _export(namespace: str, policy: str, model: str, decision) -> None:
    if decision.evaluation is not None:
        DRIFT_GAUGES.record(namespace, policy, model, decision.evaluation)
    if decision.fired_action:
        DRIFT_FIRINGS.labels(namespace, policy, model, decision.fired_action).inc()
    if any(plural == "trainingruns" for plural, _ in decision.outcome.create_objects):
        RETRAINS.labels(namespace, policy, model, "created").inc()
    for result in decision.retrain_results:
        RETRAINS.labels(namespace, policy, model, result).inc()
