"""Reconciles a TrainingRun: one Job (or DaskJob), one result, one ModelVersion (see ballast.reconcile.trainingrun)."""

from __future__ import annotations

from typing import Any

import kopf

from ballast.handlers.apply import plain_body
from ballast.handlers.context import SETTINGS, namespace_artifact_store, now
from ballast.handlers.indexes import job_of, one_of, stuck_pod_of, termination_of
from ballast.handlers.tracking import tracker
from ballast.lifecycle.stored_version import read_stored_version
from ballast.reconcile.jobs import lasting_problem
from ballast.reconcile.outcome import Outcome, waking_by
from ballast.reconcile.trainingrun import TrainingRunObservation, reconcile_training_run, version_to_look_up
from ballast.wakeups import ObjectKey


def reconcile(
    body: kopf.Body,
    ballast_jobs: kopf.Index,
    ballast_job_pods: kopf.Index,
    stuck_job_pods: kopf.Index,
    engine_pods: kopf.Index,
    ballast_datasets: kopf.Index,
    production_versions: kopf.Index,
    **_: Any,
) -> Outcome:
    namespace = body.metadata.namespace
    job_name = body.status.get("jobName")
    plain = plain_body(body)
    dataset = one_of(ballast_datasets, (namespace, body.spec["datasetRef"]["name"]))
    job = job_of(ballast_jobs, namespace, job_name)
    # the store is read only when a Job is to be created for a version status no longer lists
    look_up = None if job else version_to_look_up(plain, dataset)
    moment = now()
    pod_problem, look_again = lasting_problem(stuck_pod_of(stuck_job_pods, namespace, job_name), moment)
    observed = TrainingRunObservation(
        body=plain,
        now=moment,
        dataset=dataset,
        stored_version=read_stored_version(namespace_artifact_store(namespace), look_up) if look_up else None,
        champion=one_of(production_versions, (namespace, body.spec["model"])),
        job=job,
        termination=termination_of(ballast_job_pods, namespace, job_name),
        pod_problem=pod_problem,
        engine_pods=bool(job_name and engine_pods.get((namespace, job_name))),
        tracking=tracker().state(body.metadata.uid) if SETTINGS.tracking_uri else None,
    )
    outcome = reconcile_training_run(observed, SETTINGS)
    if outcome.log_to_tracker:
        tracker().submit(ObjectKey("TrainingRun", namespace, body.metadata.name), plain)
    return waking_by(outcome, look_again)
