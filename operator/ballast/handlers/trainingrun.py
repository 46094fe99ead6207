"""kopf handlers for TrainingRun: one Job, one result, one ModelVersion (see ballast.reconcile.trainingrun)."""

from __future__ import annotations

import kopf

from ballast.api.kinds import GROUP, TRAINING_RUN, VERSION
from ballast.handlers.apply import apply_outcome, plain_body
from ballast.handlers.context import SETTINGS, namespace_artifact_store, now
from ballast.handlers.indexes import job_of, one_of, stuck_pod_of, termination_of
from ballast.handlers.instrumented import instrumented
from ballast.lifecycle.stored_version import read_stored_version
from ballast.reconcile.trainingrun import TrainingRunObservation, in_flight, reconcile_training_run, version_to_look_up


def _in_flight(status: kopf.Status, **_) -> bool:
    return in_flight(dict(status))


@kopf.on.resume(GROUP, VERSION, "trainingruns")
@kopf.on.create(GROUP, VERSION, "trainingruns")
@kopf.on.update(GROUP, VERSION, "trainingruns", field="spec")
@kopf.timer(GROUP, VERSION, "trainingruns", interval=SETTINGS.poll_interval_seconds, when=_in_flight)
@instrumented(TRAINING_RUN)
def reconcile(
    body: kopf.Body,
    patch: kopf.Patch,
    ballast_jobs: kopf.Index,
    ballast_job_pods: kopf.Index,
    stuck_job_pods: kopf.Index,
    ballast_datasets: kopf.Index,
    production_versions: kopf.Index,
    **_,
) -> None:
    namespace = body.metadata.namespace
    job_name = body.status.get("jobName")
    plain = plain_body(body)
    dataset = one_of(ballast_datasets, (namespace, body.spec["datasetRef"]["name"]))
    job = job_of(ballast_jobs, namespace, job_name)
    # the store is read only when a Job is to be created for a version status no longer lists
    look_up = None if job else version_to_look_up(plain, dataset)
    observed = TrainingRunObservation(
        body=plain,
        now=now(),
        dataset=dataset,
        stored_version=read_stored_version(namespace_artifact_store(namespace), look_up) if look_up else None,
        champion=one_of(production_versions, (namespace, body.spec["model"])),
        job=job,
        termination=termination_of(ballast_job_pods, namespace, job_name),
        pod_problem=stuck_pod_of(stuck_job_pods, namespace, job_name),
    )
    apply_outcome(body, patch, reconcile_training_run(observed, SETTINGS), SETTINGS)
