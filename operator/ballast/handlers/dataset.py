"""kopf handlers for Dataset: ingest per generation and per refresh (see ballast.reconcile.dataset)."""

from __future__ import annotations

import kopf

from ballast.api.kinds import DATASET, GROUP, VERSION
from ballast.handlers.apply import apply_outcome, plain_body
from ballast.handlers.context import SETTINGS, current_settings, now
from ballast.handlers.indexes import job_of, stuck_pod_of, termination_of
from ballast.handlers.instrumented import instrumented
from ballast.handlers.source_objects import source_objects_in
from ballast.reconcile.dataset import DatasetObservation, ingest_in_flight, reconcile_dataset


def _has_refresh(spec: kopf.Spec, **_) -> bool:
    return bool(spec.get("refreshInterval"))


def _ingesting(status: kopf.Status, **_) -> bool:
    return ingest_in_flight(dict(status))


@kopf.on.resume(GROUP, VERSION, "datasets")
@kopf.on.create(GROUP, VERSION, "datasets")
@kopf.on.update(GROUP, VERSION, "datasets", field="spec")
@kopf.timer(GROUP, VERSION, "datasets", interval=SETTINGS.poll_interval_seconds, when=_ingesting)
@kopf.timer(GROUP, VERSION, "datasets", id="refresh", interval=SETTINGS.refresh_check_seconds, when=_has_refresh)
@instrumented(DATASET)
def reconcile(
    body: kopf.Body,
    patch: kopf.Patch,
    ballast_jobs: kopf.Index,
    ballast_job_pods: kopf.Index,
    stuck_job_pods: kopf.Index,
    **_,
) -> None:
    namespace = body.metadata.namespace
    settings = current_settings()  # the egress policy with the cluster's ranges found so far
    job_name = (body.status.get("ingest") or {}).get("jobName")
    observed = DatasetObservation(
        body=plain_body(body),
        now=now(),
        job=job_of(ballast_jobs, namespace, job_name),
        termination=termination_of(ballast_job_pods, namespace, job_name),
        pod_problem=stuck_pod_of(stuck_job_pods, namespace, job_name),
        source_objects=source_objects_in(namespace),
    )
    apply_outcome(body, patch, reconcile_dataset(observed, settings), settings)
