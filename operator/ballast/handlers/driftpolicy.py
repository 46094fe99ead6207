"""Reconciles a DriftPolicy: read the Production version's counters when an evaluation is due,
let ballast.reconcile.driftpolicy decide, and count what it decided."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

import kopf

from ballast.api.driftpolicy import DriftPolicySpec, DriftPolicyStatus
from ballast.api.kinds import TRAINING_RUN
from ballast.build.serving import REFERENCE_PATH
from ballast.canary.scrape import scrape_by_address
from ballast.drift import window_memory
from ballast.drift.counters import Window, parse_metrics
from ballast.drift.prometheus import PrometheusError, window_from_prometheus
from ballast.drift.window_memory import PodReadings
from ballast.drift_metrics import DRIFT_GAUGES
from ballast.handlers.apply import plain_body
from ballast.handlers.context import SETTINGS, current_settings, now
from ballast.handlers.indexes import one_of
from ballast.handlers.serving_pods import owned_pod_addresses
from ballast.metrics import DRIFT_FIRINGS, RETRAINS
from ballast.net.slots import NamespaceSlots
from ballast.reasons.driftpolicy import RetrainResult
from ballast.reconcile.driftpolicy import reconcile_drift_policy
from ballast.reconcile.driftpolicy_baseline import baseline_step
from ballast.reconcile.driftpolicy_inputs import DriftObservation, parse_status
from ballast.reconcile.driftpolicy_metrics import fired_action, retrain_results, window_restarted
from ballast.reconcile.driftpolicy_newest import against_newest, newest_part
from ballast.reconcile.driftpolicy_schedule import evaluate_window, evaluation_due, resumed_window_start
from ballast.reconcile.outcome import Outcome
from ballast.reference_metrics import REFERENCE_GAUGES, Reference
from ballast.wakeups import ObjectKey

WINDOW_MEMO = "drift_window"
"""The policy's WindowMemory in the runner's memo of the object (ballast.handlers.runner)."""
OUTBOUND_READS = NamespaceSlots(per_namespace=2)
"""A namespace's policies read Prometheus or their pods two at a time: however many policies
point at a slow server, they hold two of the reconcile workers every namespace shares
(controller.RECONCILE_WORKERS)."""
REFERENCE_SOURCES = 2
"""Pods asked at once for the version's reference: any one answer is the version's, and a second
pod answers when the first is going away."""


def reconcile(
    body: kopf.Body,
    memo: dict[str, Any],
    production_versions: kopf.Index,
    model_versions: kopf.Index,
    policy_runs: kopf.Index,
    ballast_datasets: kopf.Index,
    serving_pods: kopf.Index,
    serving_replica_sets: kopf.Index,
    ballast_deployments: kopf.Index,
    **_: kopf.Index,
) -> Outcome:
    namespace, moment = body.metadata.namespace, now()
    spec, status = DriftPolicySpec.model_validate(dict(body.spec)), parse_status(dict(body.status))
    production = one_of(production_versions, (namespace, spec.model))
    version = production["metadata"]["name"] if production else None
    window, started_at, problem = None, None, None
    prometheus = (spec.source.prometheus_url if spec.source else None) or SETTINGS.prometheus_url
    due = evaluation_due(status, spec, moment, version, min_interval_seconds=SETTINGS.drift_min_interval_seconds)

    def pod_addresses() -> list[str]:
        if production is None or version is None:
            return []
        return owned_pod_addresses(
            namespace,
            version,
            production["metadata"].get("uid"),
            serving_pods=serving_pods,
            serving_replica_sets=serving_replica_sets,
            ballast_deployments=ballast_deployments,
        )

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
                    spec.model,
                    version,
                    moment,
                    resumed_window_start(status, spec, moment, version),
                )
            else:
                read = window_memory.read_pods(memo.get(WINDOW_MEMO), version, _read_pods(pod_addresses()), moment)
                memo[WINDOW_MEMO] = read.memory
                window, started_at = read.window, read.memory.started_at
            if window is not None and version is not None:
                # Counts come from the pods or Prometheus; the reference, the same for every pod
                # of the version, from the copy the operator keeps and exports once.
                reference = REFERENCE_GAUGES.reference_of(
                    namespace, body.metadata.name, spec.model, version, lambda: _read_reference(pod_addresses())
                )
                window = replace(window, reference=reference)
                part = newest_part(spec)
                if part is not None:
                    query = part.query()
                    newest = REFERENCE_GAUGES.reference_of(
                        namespace,
                        body.metadata.name,
                        spec.model,
                        version,
                        lambda: _read_reference(pod_addresses(), query),
                        part=query,
                    )
                    window, problem = against_newest(window, part, newest)
    kept = window_memory.current(memo.get(WINDOW_MEMO), version) if version is not None else None
    if not due and kept is not None:
        started_at = kept.started_at
    template = spec.action.retrain.template if spec.action and spec.action.retrain else None
    dataset_name = template.spec.dataset_ref.name if template else None
    # with a production baseline, the reading either gathers it or is judged against it
    step = baseline_step(spec, status.baseline, version, window, started_at if due else None, moment)
    evaluation = evaluate_window(spec, production, step.judged) if step.judged is not None else None
    outcome = reconcile_drift_policy(
        DriftObservation(
            body=plain_body(body),
            now=moment,
            production=production,
            evaluation=evaluation,
            window_started_at=started_at,
            window_problem=problem,
            baseline=step.baseline,
            runs=list(policy_runs.get((namespace, body.metadata.name), [])),
            dataset=one_of(ballast_datasets, (namespace, dataset_name)) if dataset_name else None,
            stages={s.name: s.stage for s in model_versions.get((namespace, spec.model), [])},
            settings=SETTINGS,
        )
    )
    if window is not None and kept is not None and window_restarted(outcome, moment):
        memo[WINDOW_MEMO] = window_memory.rolled_over(kept, moment)
    if evaluation is not None:
        DRIFT_GAUGES.record(namespace, body.metadata.name, spec.model, evaluation)
    _count(namespace, body.metadata.name, spec, status, outcome)
    return outcome


def forget(key: ObjectKey) -> None:
    DRIFT_GAUGES.forget(key.namespace, key.name)
    REFERENCE_GAUGES.forget(key.namespace, key.name)


def _read_pods(addresses: list[str]) -> PodReadings:
    return {address: parse_metrics(text) for address, text in scrape_by_address(addresses).items()}


def _read_reference(addresses: list[str], query: str = "") -> Reference:
    """The reference (of the snapshot's newest part the `query` names) of the first pod that
    answers; empty when none does (or has one)."""
    path = f"{REFERENCE_PATH}?{query}" if query else REFERENCE_PATH
    texts = scrape_by_address(addresses[:REFERENCE_SOURCES], path=path)
    return next((parse_metrics(text).reference for text in texts.values()), {})


def _window_from_prometheus(
    memo: dict[str, Any],
    url: str,
    namespace: str,
    model: str,
    version: str,
    moment: datetime,
    resumed_start: datetime | None,
) -> tuple[Window | None, datetime, tuple[str, str] | None]:
    """Prometheus keeps the counters: only the window's start time is remembered, here and in
    status, so a restarted operator goes on with the window status names."""
    read = window_memory.read_prometheus(memo.get(WINDOW_MEMO), version, resumed_start, moment)
    memo[WINDOW_MEMO] = memory = read.memory
    if read.query_from is None:
        return None, memory.started_at, None
    try:
        return (
            window_from_prometheus(
                url,
                namespace,
                model,
                version,
                read.query_from,
                moment,
                timeout=SETTINGS.prometheus_deadline_seconds,
                egress=current_settings().prometheus_egress,
            ),
            memory.started_at,
            None,
        )
    except PrometheusError as error:
        return None, memory.started_at, (error.reason, str(error)[:1024])


def _count(namespace: str, policy: str, spec: DriftPolicySpec, before: DriftPolicyStatus, outcome: Outcome) -> None:
    action = fired_action(outcome, spec)
    if action:
        DRIFT_FIRINGS.labels(namespace, policy, spec.model, action).inc()
    if any(plural == TRAINING_RUN.plural for plural, _ in outcome.create_objects):
        RETRAINS.labels(namespace, policy, spec.model, RetrainResult.CREATED).inc()
    for result in retrain_results(before, outcome):
        RETRAINS.labels(namespace, policy, spec.model, result).inc()
