"""Carries out a reconcile's Outcome: children first, then related objects' status, then the
audit trail, then its own status, then Events.

Children come first so that a crash in between leaves a status that makes the next
reconcile ask for the same (deterministically named) children again, never different ones.
The audit trail is appended before the status that records the decisions is written, for the
same reason: a crash in between makes the next reconcile take the same decisions again, with
the same ids, which the log keeps once (ballast.audit.decisions, docs/audit.md).
"""

from __future__ import annotations

from collections.abc import Callable

import kopf

from ballast import kube
from ballast.api.kinds import kind_of, plural_of
from ballast.audit.recording import record_decisions
from ballast.build.claims import store_claim_for
from ballast.build.ingest_input import build_ingest_input
from ballast.conditions import (
    ConditionType,
    Progress,
    Standing,
    find_condition,
    now_rfc3339,
    set_condition,
    set_progress,
)
from ballast.handlers.ingest_network import is_ingest_job, restrict_ingest_egress
from ballast.handlers.lifecycle_metrics import count_lifecycle
from ballast.handlers.model_service import claim_and_apply_service
from ballast.handlers.serving_access import is_serving_deployment, provide_serving_access
from ballast.metrics import RECONCILIATIONS
from ballast.reasons.trainingrun import TrainingRunReason
from ballast.reconcile.jobs import POD_CANNOT_START
from ballast.reconcile.outcome import Event, Outcome
from ballast.reconcile.service_claim import with_service_claim
from ballast.settings import Settings

StatusWritten = Callable[[str, str, str, "str | None"], None]
"""Hears of each status write: kind, namespace, name and the resourceVersion it made."""


def _nothing_to_tell(kind: str, namespace: str, name: str, resource_version: str | None) -> None:
    """The default listener of status writes."""


def apply_outcome(
    body: kopf.Body,
    outcome: Outcome,
    settings: Settings,
    *,
    reporter: str,
    status_written: StatusWritten = _nothing_to_tell,
) -> None:
    """reporter: which operator replica writes, as Events name it."""
    try:
        outcome = _create_and_delete_children(body, outcome, settings, status_written)
    except kube.NamespaceTerminating:
        return  # the object goes with its namespace; there is nothing left to record
    except kube.ChildRefused as refused:
        outcome = refused_outcome(body, outcome, refused)
    _write_status_and_events(body, outcome, settings, reporter, status_written)


def refused_outcome(body: kopf.Body, outcome: Outcome, refused: kube.ChildRefused) -> Outcome:
    """Ready False and Stalled True (and Succeeded False, where the kind has it: the attempt is
    over) with the API server's own words, instead of an exception retried forever. Nothing else of the
    outcome is written, so no status claims that the refused child exists."""
    generation = body.metadata.get("generation")
    conditions = outcome.status.get("conditions") or body.status.get("conditions")
    stamp = now_rfc3339()
    for type in (ConditionType.READY, ConditionType.SUCCEEDED):
        if type == ConditionType.READY or find_condition(conditions, type):
            conditions = set_condition(
                conditions,
                type=type,
                status="False",
                reason=refused.reason,
                message=str(refused)[:2000],
                observed_generation=generation,
                now=stamp,
            )
    # waiting will not make the API server take the same child: a person has to act
    failed = Standing(Progress.FAILED, refused.reason, str(refused)[:2000])
    conditions = set_progress(conditions, failed, observed_generation=generation, now=stamp)
    result = Outcome(status={"observedGeneration": generation, "conditions": conditions})
    result.event("Warning", refused.reason, str(refused)[:1000])
    return result


def _create_and_delete_children(
    body: kopf.Body, outcome: Outcome, settings: Settings, status_written: StatusWritten = _nothing_to_tell
) -> Outcome:
    """The outcome, with what touching the children found (a Service that is not Ballast's)."""
    namespace = body.metadata.namespace
    workloads = [*outcome.create_jobs, *(m for _, m in outcome.create_engine_objects)]
    claim = store_claim_for(namespace, [*workloads, *(m for _, m in outcome.apply_manifests)], settings)
    if claim is not None:
        kube.ensure_claim(claim)
    for job in outcome.create_jobs:
        if is_ingest_job(job):
            restrict_ingest_egress(plain_body(body), settings)
            kube.create_secret_if_absent(build_ingest_input(plain_body(body)))
        kube.create_job(job)
    for name in outcome.delete_jobs:
        kube.delete_job(namespace, name)
    for plural, manifest in outcome.create_objects:
        kube.create_custom_object(plural, manifest)
    for engine, manifest in outcome.create_engine_objects:
        kube.create_engine_object(engine.group, engine.version, engine.plural, manifest, missing=engine.missing)
    for engine, name in outcome.delete_engine_objects:
        kube.delete_engine_object(engine.group, engine.version, engine.plural, namespace, name)
    for name in outcome.delete_autoscalers:
        kube.delete_autoscaler(namespace, name)
    for manager, manifest in outcome.apply_manifests:
        if manifest["kind"] == "Service":
            # created only if absent, applied only if Ballast's (ballast.reconcile.service_claim)
            claim = claim_and_apply_service(manifest, field_manager=manager)
            outcome = with_service_claim(
                outcome, dict(body.status), claim, generation=body.metadata.get("generation"), now=now_rfc3339()
            )
            continue
        if is_serving_deployment(manifest):
            provide_serving_access(plain_body(body), settings)
        kube.server_side_apply(manifest, field_manager=manager)
    for change in outcome.patch_statuses:
        written = kube.patch_custom_object_status(change.plural, change.namespace, change.name, list(change.operations))
        status_written(kind_of(change.plural), change.namespace, change.name, written)
    return outcome


def _write_status_and_events(
    body: kopf.Body, outcome: Outcome, settings: Settings, reporter: str, status_written: StatusWritten
) -> None:
    events = [*outcome.events, *ready_transition_events(dict(body.status), outcome)]
    events += record_decisions(settings.store_uri, plain_body(body), events, outcome.status)
    changes = status_changes(dict(body.status), outcome.status)
    count_lifecycle(body["kind"], body.metadata.namespace, body.spec.get("model", ""), dict(body.status), changes)
    if changes:
        written = kube.patch_status(plural_of(body["kind"]), body.metadata.namespace, body.metadata.name, changes)
        status_written(body["kind"], body.metadata.namespace, body.metadata.name, written)
    changed = bool(
        changes
        or outcome.create_jobs
        or outcome.delete_jobs
        or outcome.create_objects
        or outcome.create_engine_objects
        or outcome.delete_engine_objects
        or outcome.apply_manifests
        or outcome.delete_autoscalers
        or outcome.patch_statuses
    )
    RECONCILIATIONS.labels(body["kind"], "changed" if changed else "unchanged").inc()
    for event in events:
        kube.post_event(
            plain_body(body), type=event.type, reason=event.reason, message=event.message, reporter=reporter
        )


def status_changes(current: dict, desired: dict) -> dict:
    """Only the fields that differ: a reconcile that changes nothing writes nothing, so
    periodic reconciles cause no API writes and no watch events."""
    return {field: value for field, value in desired.items() if current.get(field) != value}


def plain_body(body: kopf.Body) -> dict:
    """The object as plain dicts, for the pure reconcilers."""
    return {
        "apiVersion": body["apiVersion"],
        "kind": body["kind"],
        "metadata": dict(body.metadata),
        "spec": dict(body.spec),
        "status": dict(body.status),
    }


WARNINGS_WHILE_UNKNOWN = frozenset({POD_CANNOT_START, TrainingRunReason.ENGINE_NOT_RESPONDING})
"""Ready reasons that are Unknown (the attempt goes on) but need a person: posted as Warnings."""


def ready_transition_events(current: dict, outcome: Outcome) -> list[Event]:
    """An Event whenever Ready changes status or reason, unless the reconcile posted one with
    that reason already: a person reading `kubectl describe` sees every step."""
    new = find_condition(outcome.status.get("conditions"), ConditionType.READY)
    old = find_condition(current.get("conditions"), ConditionType.READY)
    if not new or (old and (old["status"], old["reason"]) == (new["status"], new["reason"])):
        return []
    if any(event.reason == new["reason"] for event in outcome.events):
        return []
    warning = new["status"] == "False" or new["reason"] in WARNINGS_WHILE_UNKNOWN
    return [Event("Warning" if warning else "Normal", new["reason"], new["message"] or new["reason"])]
