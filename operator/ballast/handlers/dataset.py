"""Reconciles a Dataset: ingest per generation and per refresh (see ballast.reconcile.dataset)."""

from __future__ import annotations

from typing import Any

import kopf

from ballast.handlers.apply import plain_body
from ballast.handlers.context import current_settings, now
from ballast.handlers.indexes import job_of, stuck_pod_of, termination_of
from ballast.handlers.source_objects import source_objects_in
from ballast.reconcile.dataset import DatasetObservation, reconcile_dataset
from ballast.reconcile.jobs import lasting_problem
from ballast.reconcile.outcome import Outcome, waking_by


def reconcile(
    body: kopf.Body,
    ballast_jobs: kopf.Index,
    ballast_job_pods: kopf.Index,
    stuck_job_pods: kopf.Index,
    **_: Any,
) -> Outcome:
    namespace = body.metadata.namespace
    settings = current_settings()  # the egress policy with the cluster's ranges found so far
    job_name = (body.status.get("ingest") or {}).get("jobName")
    moment = now()
    pod_problem, look_again = lasting_problem(stuck_pod_of(stuck_job_pods, namespace, job_name), moment)
    observed = DatasetObservation(
        body=plain_body(body),
        now=moment,
        job=job_of(ballast_jobs, namespace, job_name),
        termination=termination_of(ballast_job_pods, namespace, job_name),
        pod_problem=pod_problem,
        source_objects=source_objects_in(namespace),
    )
    return waking_by(reconcile_dataset(observed, settings), look_again)
