"""kopf indexes: in-memory views of Ballast's Jobs, their pods, Datasets and Production
ModelVersions, kept current by watches, so reconcilers read them without API calls.

An index function that excludes an object returns an empty dict, never None: kopf keeps an
object's previous entries when its function returns None, so a version that left Production
(or a pod that stopped being ready) would stay in the index forever.

The index functions are coroutines, though they never await: kopf runs a plain function in
its thread pool, one hand-off per function and event, and after a start, when thousands of
objects are listed at once, the events' workers queued for those few threads with the whole
objects in hand (516 waiting, 2,847 in all, in the scale benchmark).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf

from ballast.api.kinds import DATASET, DRIFT_POLICY, GROUP, MODEL_VERSION, TRAINING_RUN, VERSION
from ballast.build.daskjob import CLUSTER_NAME_LABEL, RUNNER_COMPONENT
from ballast.build.daskjob import COMPONENT_LABEL as DASK_COMPONENT_LABEL
from ballast.build.naming import COMPONENT_LABEL, MANAGED_BY, SERVING_COMPONENT
from ballast.build.retrain import FIRING_REASON_ANNOTATION, POLICY_LABEL
from ballast.build.serving import AUTOSCALED_ANNOTATION, SPEC_HASH_ANNOTATION, VERSION_LABEL
from ballast.canary.pods import ServingPod, controller_uid
from ballast.conditions import ConditionType, find_condition
from ballast.reconcile.driftpolicy_inputs import PolicyRun
from ballast.reconcile.durations import parse_time
from ballast.reconcile.jobs import (
    JobState,
    StuckPod,
    job_state,
    pod_termination,
    result_termination,
    serving_start_refusal,
    stuck_pod,
)
from ballast.reconcile.serving import DeploymentState, Sibling

MANAGED = {"app.kubernetes.io/managed-by": MANAGED_BY}
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"


@kopf.index("batch", "v1", "jobs", labels=MANAGED)
async def ballast_jobs(namespace: str, name: str, status: kopf.Status, **_) -> dict:
    return {(namespace, name): job_state(dict(status))}


def _result_workload(labels: kopf.Labels) -> str | None:
    """The Job, or the DaskJob, whose result a pod's end is: a Job's pod, or a DaskJob's runner
    (the Dask operator copies the DaskJob's labels, Ballast's, onto its pods, and names its
    cluster after the job). A DaskJob's scheduler and workers are not: they run until it ends."""
    if labels.get(DASK_COMPONENT_LABEL) == RUNNER_COMPONENT:
        return labels.get(CLUSTER_NAME_LABEL)
    return labels.get(JOB_NAME_LABEL)


@kopf.index("", "v1", "pods", labels=MANAGED)
async def ballast_job_pods(namespace: str, labels: kopf.Labels, status: kopf.Status, **_) -> dict:
    job = _result_workload(labels)
    termination = pod_termination(dict(status))
    return {(namespace, job): termination} if job and termination else {}


@kopf.index("", "v1", "pods", labels=MANAGED)
async def stuck_job_pods(namespace: str, labels: kopf.Labels, meta: kopf.Meta, status: kopf.Status, **_) -> dict:
    """Why a Job's pod, or any pod of a DaskJob's cluster, cannot start (unschedulable, image not
    pulled), and since when, while that lasts."""
    job = labels.get(JOB_NAME_LABEL) or labels.get(CLUSTER_NAME_LABEL)
    stuck = stuck_pod(dict(status), meta.get("creationTimestamp"))
    return {(namespace, job): stuck} if job and stuck else {}


@kopf.index("", "v1", "pods", labels={**MANAGED, CLUSTER_NAME_LABEL: kopf.PRESENT})
async def engine_pods(namespace: str, name: str, labels: kopf.Labels, **_) -> dict:
    """The pods the Dask operator made of each of Ballast's DaskJobs: that it made any says it
    serves the namespace. An index over pods, never over the engine's own kinds: those may not
    exist on the cluster, and Ballast must run the same without them."""
    return {(namespace, labels[CLUSTER_NAME_LABEL]): name}


@kopf.index("", "v1", "pods", labels={**MANAGED, COMPONENT_LABEL: SERVING_COMPONENT})
async def stuck_serving_pods(namespace: str, labels: kopf.Labels, meta: kopf.Meta, status: kopf.Status, **_) -> dict:
    """Why a ModelVersion's serving pods cannot start, and since when, by version, while that lasts."""
    version = labels.get(VERSION_LABEL)
    stuck = stuck_pod(dict(status), meta.get("creationTimestamp"))
    return {(namespace, version): stuck} if version and stuck else {}


@kopf.index("", "v1", "pods", labels={**MANAGED, COMPONENT_LABEL: SERVING_COMPONENT})
async def refused_serving_pods(namespace: str, labels: kopf.Labels, status: kopf.Status, **_) -> dict:
    """Why a ModelVersion's model server refused its model at start-up, by version, while a pod
    keeps ending that way."""
    version = labels.get(VERSION_LABEL)
    refusal = serving_start_refusal(dict(status))
    return {(namespace, version): refusal} if version and refusal else {}


def stuck_pod_of(index: kopf.Index, namespace: str, job: str | None) -> StuckPod | None:
    return one_of(index, (namespace, job)) if job else None


@kopf.index(GROUP, VERSION, DATASET.plural)
async def ballast_datasets(
    namespace: str, name: str, meta: kopf.Meta, spec: kopf.Spec, status: kopf.Status, **_
) -> dict:
    return {(namespace, name): dataset_as_read_by_others(namespace, name, meta.get("uid"), spec, status)}


def dataset_as_read_by_others(
    namespace: str, name: str, uid: str | None, spec: Mapping[str, Any], status: Mapping[str, Any]
) -> dict[str, Any]:
    """What the runs and policies that name a Dataset read of it. Not its source: inline rows
    can be hundreds of kilobytes per Dataset, and only the Dataset's own ingest reads them."""
    return {
        "metadata": {"name": name, "namespace": namespace, "uid": uid},
        "spec": {field: value for field, value in spec.items() if field != "source"},
        "status": dict(status),
    }


@kopf.index(GROUP, VERSION, MODEL_VERSION.plural)
async def production_versions(
    namespace: str, name: str, meta: kopf.Meta, spec: kopf.Spec, status: kopf.Status, **_
) -> dict:
    if status.get("stage") != "Production":
        return {}
    return {
        (namespace, spec["model"]): {
            "metadata": {"name": name, "namespace": namespace, "uid": meta.get("uid")},
            "spec": dict(spec),
            "status": {"metrics": dict(status.get("metrics") or {})},
        }
    }


def job_of(index: kopf.Index, namespace: str, name: str | None) -> JobState | None:
    return one_of(index, (namespace, name)) if name else None


def termination_of(index: kopf.Index, namespace: str, job: str | None) -> dict | None:
    return result_termination(list(index.get((namespace, job), []))) if job else None


def one_of(index: kopf.Index, key: tuple) -> Any:
    """The index's one value under key (what the index function returned for it), or None."""
    return next(iter(index.get(key, [])), None)


@kopf.index(GROUP, VERSION, MODEL_VERSION.plural)
async def model_versions(namespace: str, name: str, meta: kopf.Meta, spec: kopf.Spec, status: kopf.Status, **_) -> dict:
    """Every version of a model, with its stage: what a version's rollout is decided against."""
    return {
        (namespace, spec["model"]): Sibling(
            name=name,
            stage=status.get("stage"),
            promoted_at=status.get("promotedAt"),
            ready_replicas=int(status.get("readyReplicas") or 0),
            uid=meta.get("uid"),
        )
    }


@kopf.index("apps", "v1", "deployments", labels=MANAGED)
async def ballast_deployments(
    namespace: str, name: str, meta: kopf.Meta, status: kopf.Status, annotations: kopf.Annotations, **_
) -> dict:
    return {
        (namespace, name): DeploymentState(
            ready_replicas=int(status.get("readyReplicas") or 0),
            spec_hash=annotations.get(SPEC_HASH_ANNOTATION),
            replicas=int(status.get("replicas") or 0),
            autoscaled=annotations.get(AUTOSCALED_ANNOTATION) == "true",
            uid=meta.get("uid"),
            controller_uid=controller_uid(meta.get("ownerReferences"), "ModelVersion"),
        )
    }


@kopf.index("apps", "v1", "replicasets", labels={**MANAGED, COMPONENT_LABEL: SERVING_COMPONENT})
async def serving_replica_sets(namespace: str, meta: kopf.Meta, **_) -> dict:
    """ReplicaSet uid -> the uid of the Deployment that controls it: the middle link of a serving
    pod's owner chain (ballast.canary.pods), which scrapes are checked against."""
    return {(namespace, meta.get("uid")): controller_uid(meta.get("ownerReferences"), "Deployment")}


@kopf.index("", "v1", "services", labels={**MANAGED, COMPONENT_LABEL: SERVING_COMPONENT})
async def model_services(namespace: str, name: str, meta: kopf.Meta, **_) -> dict:
    """Which ModelVersions each model's Service names as owners: a version missing from it
    (the Service was deleted, or lost that reference) applies it again."""
    return {(namespace, name): frozenset(owner["uid"] for owner in meta.get("ownerReferences") or [])}


@kopf.index("", "v1", "pods", labels={**MANAGED, COMPONENT_LABEL: SERVING_COMPONENT})
async def serving_pods(namespace: str, labels: kopf.Labels, meta: kopf.Meta, status: kopf.Status, **_) -> dict:
    """Ready serving pods, by the ModelVersion their label names: what canary analysis and drift
    scrape, once ballast.canary.pods has checked that the version's Deployment owns them."""
    ready = any(
        c.get("type") == ConditionType.READY and c.get("status") == "True" for c in status.get("conditions") or []
    )
    version = labels.get(VERSION_LABEL)
    if not (ready and version and status.get("podIP")):
        return {}
    return {
        (namespace, version): ServingPod(
            address=status["podIP"], replica_set_uid=controller_uid(meta.get("ownerReferences"), "ReplicaSet")
        )
    }


@kopf.index(GROUP, VERSION, TRAINING_RUN.plural, labels={POLICY_LABEL: kopf.PRESENT})
async def policy_runs(
    namespace: str,
    name: str,
    labels: kopf.Labels,
    annotations: kopf.Annotations,
    meta: kopf.Meta,
    status: kopf.Status,
    **_,
) -> dict:
    """The TrainingRuns each DriftPolicy started, and how far they got."""
    succeeded = find_condition(status.get("conditions"), ConditionType.SUCCEEDED) or {}
    created = meta.get("creationTimestamp")
    return {
        (namespace, labels[POLICY_LABEL]): PolicyRun(
            name=name,
            created_at=parse_time(created) if created else None,
            finished=succeeded.get("status") in ("True", "False"),
            succeeded=succeeded.get("status") == "True",
            reason=succeeded.get("reason", ""),
            message=succeeded.get("message", ""),
            model_version=status.get("modelVersion"),
            firing_reason=annotations.get(FIRING_REASON_ANNOTATION, ""),
        )
    }


@kopf.index(GROUP, VERSION, TRAINING_RUN.plural)
async def runs_by_dataset(namespace: str, name: str, spec: kopf.Spec, **_) -> dict:
    """The TrainingRuns that name each Dataset: a new version of it wakes them."""
    return {(namespace, spec["datasetRef"]["name"]): name}


@kopf.index(GROUP, VERSION, DRIFT_POLICY.plural)
async def policies_by_model(namespace: str, name: str, spec: kopf.Spec, **_) -> dict:
    """The DriftPolicies that watch each model: a change of its Production version wakes them."""
    return {(namespace, spec["model"]): name}


@kopf.index(GROUP, VERSION, DRIFT_POLICY.plural)
async def policies_by_dataset(namespace: str, name: str, spec: kopf.Spec, **_) -> dict:
    """The DriftPolicies whose retraining names each Dataset: they wait for its new data."""
    template = ((spec.get("action") or {}).get("retrain") or {}).get("template") or {}
    dataset = ((template.get("spec") or {}).get("datasetRef") or {}).get("name")
    return {(namespace, dataset): name} if dataset else {}
