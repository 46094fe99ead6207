"""kopf indexes: in-memory views of Ballast's Jobs, their pods, Datasets and Production
ModelVersions, kept current by watches, so reconcilers read them without API calls."""

from __future__ import annotations

import kopf

from ballast.api.kinds import GROUP, VERSION
from ballast.build.naming import MANAGED_BY
from ballast.reconcile.jobs import JobState, job_state, latest_termination, pod_termination
from ballast.build.serving import SPEC_HASH_ANNOTATION, VERSION_LABEL
from ballast.reconcile.serving import DeploymentState, Sibling

MANAGED = {"app.kubernetes.io/managed-by": MANAGED_BY}
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"


@kopf.index("batch", "v1", "jobs", labels=MANAGED)
def ballast_jobs(namespace: str, name: str, status: kopf.Status, **_) -> dict:
    return {(namespace, name): job_state(dict(status))}


@kopf.index("", "v1", "pods", labels=MANAGED)
def ballast_job_pods(namespace: str, labels: kopf.Labels, status: kopf.Status, **_) -> dict | None:
    job = labels.get(JOB_NAME_LABEL)
    termination = pod_termination(dict(status))
    return {(namespace, job): termination} if job and termination else None


@kopf.index(GROUP, VERSION, "datasets")
def ballast_datasets(namespace: str, name: str, spec: kopf.Spec, status: kopf.Status, **_) -> dict:
    return {(namespace, name): {"metadata": {"name": name, "namespace": namespace},
                                "spec": dict(spec), "status": dict(status)}}


@kopf.index(GROUP, VERSION, "modelversions")
def production_versions(namespace: str, name: str, spec: kopf.Spec, status: kopf.Status, **_) -> dict | None:
    if status.get("stage") != "Production":
        return None
    return {(namespace, spec["model"]): {"metadata": {"name": name, "namespace": namespace}, "spec": dict(spec)}}


def job_of(index: kopf.Index, namespace: str, name: str | None) -> JobState | None:
    if not name:
        return None
    return next(iter(index.get((namespace, name), [])), None)


def termination_of(index: kopf.Index, namespace: str, job: str | None) -> dict | None:
    return latest_termination(list(index.get((namespace, job), []))) if job else None


def one_of(index: kopf.Index, key: tuple) -> dict | None:
    return next(iter(index.get(key, [])), None)


@kopf.index(GROUP, VERSION, "modelversions")
def model_versions(namespace: str, name: str, spec: kopf.Spec, status: kopf.Status, **_) -> dict:
    """Every version of a model, with its stage: what a version's rollout is decided against."""
    return {(namespace, spec["model"]): Sibling(name=name, stage=status.get("stage"),
                                                promoted_at=status.get("promotedAt"),
                                                ready_replicas=int(status.get("readyReplicas") or 0))}


@kopf.index("apps", "v1", "deployments", labels=MANAGED)
def ballast_deployments(namespace: str, name: str, status: kopf.Status, annotations: kopf.Annotations,
                        **_) -> dict:
    return {(namespace, name): DeploymentState(ready_replicas=int(status.get("readyReplicas") or 0),
                                               spec_hash=annotations.get(SPEC_HASH_ANNOTATION))}


@kopf.index("", "v1", "pods", labels={**MANAGED, "app.kubernetes.io/component": "serving"})
def serving_pods(namespace: str, labels: kopf.Labels, status: kopf.Status, **_) -> dict | None:
    """The addresses of ready serving pods, by ModelVersion: what canary analysis scrapes."""
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
    version = labels.get(VERSION_LABEL)
    return {(namespace, version): status["podIP"]} if ready and version and status.get("podIP") else None
