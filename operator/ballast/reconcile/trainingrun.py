"""TrainingRun: pin the dataset version once, run one training Job, record what it produced,
and register a ModelVersion when the gates pass."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ballast.api.annotations import (
    METADATA_SHA256_ANNOTATION,
    PROFILE_SHA256_ANNOTATION,
    TRAINING_SPEC_ANNOTATION,
)
from ballast.api.common import key_metric_for_status
from ballast.api.kinds import MODEL_VERSION
from ballast.api.trainingrun import Artifact, TrainingRunSpec, TrainingRunStatus
from ballast.build.daskjob import DASK_CRD, DASK_GROUP, DASK_JOBS, DASK_VERSION, build_dask_job
from ballast.build.jobs import build_training_job
from ballast.build.naming import child_name
from ballast.build.policy import custom_image_refusal
from ballast.cards.annotations import card_notes
from ballast.conditions import ConditionStatus, ConditionType, rfc3339, set_condition, set_progress
from ballast.lifecycle.stored_version import PinnedVersion, StoredVersion
from ballast.reasons import OUT_OF_MEMORY, POD_CANNOT_START
from ballast.reasons.trainingrun import RunPhase, TrainingRunReason
from ballast.reconcile.durations import parse_time
from ballast.reconcile.jobs import (
    JobState,
    grace_end,
    message_tail,
    out_of_memory,
    parse_result,
    result_pending,
)
from ballast.reconcile.outcome import EngineKind, Outcome
from ballast.reconcile.progress import finished_run_phase, run_standing
from ballast.reconcile.tracking import queued_for_tracking, tracking_step
from ballast.reconcile.typed import Typed, condition_of, parse_object, wire_conditions
from ballast.settings import Settings
from ballast.tracking.state import TrackingState

RESULT_FIELDS = ("metrics", "params", "gates", "reproducibility")
DASK_JOB = EngineKind(
    DASK_GROUP,
    DASK_VERSION,
    DASK_JOBS,
    missing=(
        TrainingRunReason.ENGINE_NOT_INSTALLED,
        f"spec.compute asks for the dask engine, but the cluster does not serve {DASK_CRD} "
        f"({DASK_GROUP}/{DASK_VERSION}): the dask-kubernetes operator and its CRDs are not installed; "
        "see docs/distributed-training.md",
    ),
)
# what a Dataset version records -> the pinned run's status field -> the ModelVersion's annotation
DATASET_DIGESTS = (
    ("profileSha256", "datasetProfileSha256", PROFILE_SHA256_ANNOTATION),
    ("metadataSha256", "datasetMetadataSha256", METADATA_SHA256_ANNOTATION),
)


@dataclass(frozen=True)
class TrainingRunObservation:
    body: dict[str, Any]
    now: datetime
    dataset: dict[str, Any] | None = None
    """The Dataset that spec.datasetRef names (metadata, spec, status), if it exists."""
    champion: dict[str, Any] | None = None
    """The model's Production ModelVersion (metadata, spec), if there is one."""
    job: JobState | None = None
    termination: dict[str, Any] | None = None
    pod_problem: str | None = None
    """Why the Job's pod cannot start (reconcile.jobs.pod_cannot_start), while it cannot."""
    stored_version: StoredVersion | None = None
    """The pinned version as the store has it, when the Dataset's status no longer lists it
    (see `version_to_look_up`)."""
    tracking: TrackingState | None = None
    """Where logging the finished run to the tracking server stands (ballast.tracking), when
    one is configured."""
    engine_pods: bool = False
    """Whether the engine's operator has made any pod of the run's DaskJob (spec.compute)."""


RunView = Typed[TrainingRunSpec, TrainingRunStatus]


def parse_run(body: dict[str, Any]) -> RunView:
    return parse_object(body, TrainingRunSpec, TrainingRunStatus)


@dataclass(frozen=True)
class Verdict:
    """What a reconcile concluded, for the Ready and Succeeded conditions."""

    phase: RunPhase
    reason: str
    message: str
    wake_at: datetime | None = None
    """When to look again although nothing changes: a wait's deadline, a result's grace."""


CONDITION_STATUS: dict[RunPhase, tuple[ConditionStatus, ConditionStatus]] = {
    RunPhase.RUNNING: ("Unknown", "Unknown"),
    RunPhase.WAITING: ("False", "Unknown"),
    RunPhase.SUCCEEDED: ("True", "True"),
    RunPhase.FAILED: ("False", "False"),
}
"""(Ready, Succeeded) of each phase."""


def version_to_look_up(body: dict[str, Any], dataset: dict[str, Any] | None) -> PinnedVersion | None:
    """The pinned version (by spec or, once started, by status) that the Dataset's status no
    longer lists: the handler resolves it from the store's metadata. None when there is nothing
    to look up (no Dataset, no pin, or the version is in status)."""
    if dataset is None:
        return None
    run = parse_run(body)
    if run_finished(run.status):
        return None
    status = run.status
    wanted = status.dataset_version or run.spec.dataset_ref.version
    if not wanted or wanted in _listed_versions(dataset):
        return None
    started = status.dataset_version is not None
    return PinnedVersion(
        dataset=run.spec.dataset_ref.name,
        sha256=wanted,
        metadata_sha256=status.dataset_metadata_sha256 if started else None,
        profile_sha256=status.dataset_profile_sha256 if started else None,
    )


def run_finished(status: TrainingRunStatus) -> bool:
    succeeded = condition_of(status, ConditionType.SUCCEEDED)
    return succeeded is not None and succeeded.status in ("True", "False")


def model_version_name(model: str, sha256: str) -> str:
    """Registry entries are named by content: the same artifact is the same ModelVersion."""
    return child_name(model, sha256[:12])


def reconcile_training_run(observed: TrainingRunObservation, settings: Settings) -> Outcome:
    run = parse_run(observed.body)
    outcome = Outcome(status={"observedGeneration": run.generation})
    if run_finished(run.status):
        outcome.status["conditions"] = _finished_conditions(run, observed.now)
        if settings.tracking_uri:
            _track(outcome, run, observed, settings.tracking_uri, settings.tracking_retry_seconds)
        return outcome
    if run.status.job_name is None:
        verdict = _start(outcome, run, observed, settings)
    else:
        verdict = _follow(outcome, run, observed, settings)
    outcome.wake_at = verdict.wake_at
    outcome.status["conditions"] = _conditions(run, verdict, observed.now)
    if settings.tracking_uri and verdict.phase in (RunPhase.SUCCEEDED, RunPhase.FAILED):
        # the tracker is handed the run as the API server has it, status written: by the next
        # reconcile, which a status write does not cause by itself, so it is asked for now
        outcome.status["conditions"] = queued_for_tracking(
            outcome.status["conditions"], settings.tracking_uri, run.generation, observed.now
        )
        outcome.wake_at = observed.now
    return outcome


def _track(
    outcome: Outcome, run: RunView, observed: TrainingRunObservation, tracking_uri: str, retry_seconds: float
) -> None:
    step = tracking_step(
        outcome.status["conditions"],
        observed.tracking,
        tracking_uri=tracking_uri,
        retry_seconds=retry_seconds,
        generation=run.generation,
        now=observed.now,
    )
    outcome.status["conditions"] = step.conditions
    outcome.log_to_tracker = step.request
    outcome.wake_at = step.wake_at
    if step.event is not None:
        outcome.events.append(step.event)


def _conditions(run: RunView, verdict: Verdict, now: datetime) -> list[dict[str, Any]]:
    ready, succeeded = CONDITION_STATUS[verdict.phase]
    stamp = rfc3339(now)
    conditions = wire_conditions(run.status)
    for type, status in ((ConditionType.READY, ready), (ConditionType.SUCCEEDED, succeeded)):
        conditions = set_condition(
            conditions,
            type=type,
            status=status,
            reason=str(verdict.reason),
            message=verdict.message,
            observed_generation=run.generation,
            now=stamp,
        )
    standing = run_standing(verdict.phase, str(verdict.reason), verdict.message)
    return set_progress(conditions, standing, observed_generation=run.generation, now=stamp)


def _finished_conditions(run: RunView, now: datetime) -> list[dict[str, Any]]:
    """A finished run's conditions as they are, with Reconciling and Stalled said from Succeeded
    (a run finished before Ballast set them gets them too; set again, they change nothing)."""
    succeeded = condition_of(run.status, ConditionType.SUCCEEDED)
    assert succeeded is not None and succeeded.status != "Unknown"
    standing = run_standing(finished_run_phase(succeeded.status), succeeded.reason, succeeded.message)
    return set_progress(wire_conditions(run.status), standing, observed_generation=run.generation, now=rfc3339(now))


def _start(outcome: Outcome, run: RunView, observed: TrainingRunObservation, settings: Settings) -> Verdict:
    now, spec = observed.now, run.spec
    refused = _refuse_image(outcome, run, settings)
    if refused:
        return refused
    version, problem = _resolve_dataset_version(run, observed.dataset, stored=observed.stored_version)
    if version is None or observed.dataset is None:  # no version without a Dataset
        created = parse_time(run.body["metadata"]["creationTimestamp"])
        deadline = created + timedelta(seconds=settings.dataset_wait_seconds)
        final = problem[0] == TrainingRunReason.DATASET_VERSION_INVALID or now >= deadline
        reason, message = _reason_for(problem, final)
        if final:
            outcome.event("Warning", reason, message)
            return Verdict(RunPhase.FAILED, reason, message)
        return Verdict(RunPhase.WAITING, reason, message, wake_at=deadline)
    champion = observed.champion if _must_beat_champion(spec) else None
    job = _create_child(outcome, run, _inputs(run, version, observed.dataset, champion), settings)
    outcome.status.update(
        datasetVersion=version["sha256"],
        datasetVersionShort=version["sha256"][:12],
        datasetSnapshotUri=version["snapshotUri"],
        jobName=job["metadata"]["name"],
        startedAt=rfc3339(now),
    )
    for recorded, field, _ in DATASET_DIGESTS:
        if version.get(recorded):
            outcome.status[field] = version[recorded]
    if champion:
        outcome.status["champion"] = champion["metadata"]["name"]
    short = version["sha256"][:12]
    outcome.event(
        "Normal",
        TrainingRunReason.TRAINING,
        f"started {job['kind']} {job['metadata']['name']} on dataset {spec.dataset_ref.name} version {short}",
    )
    return Verdict(RunPhase.RUNNING, TrainingRunReason.TRAINING, f"training on dataset version {short}")


def _create_child(outcome: Outcome, run: RunView, inputs: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """What trains the run, asked for: a Job, or a DaskJob when spec.compute asks for Dask
    (status.jobName names either; both are named after the run, so asking again is harmless)."""
    if run.spec.compute is not None:
        dask_job = build_dask_job(run.body, inputs=inputs, settings=settings)
        outcome.create_engine_objects.append((DASK_JOB, dask_job))
        return dask_job
    job = build_training_job(run.body, inputs=inputs, settings=settings)
    outcome.create_jobs.append(job)
    return job


def _refuse_image(outcome: Outcome, run: RunView, settings: Settings) -> Verdict | None:
    """A custom image or command the administrator does not allow fails the run, and no Job is
    created. Runs a DriftPolicy creates from its template meet the same check here."""
    refusal = custom_image_refusal(run.body["spec"], settings)
    if refusal is None:
        return None
    outcome.event("Warning", refusal.reason, refusal.message)
    return Verdict(RunPhase.FAILED, refusal.reason, refusal.message)


def _inputs(
    run: RunView, version: dict[str, Any], dataset: dict[str, Any], champion: dict[str, Any] | None
) -> dict[str, Any]:
    """What `ballast train` reads (see ballast.runtime.train)."""
    metadata = run.body["metadata"]
    inputs = {
        "trainingRun": {key: metadata[key] for key in ("namespace", "name", "uid")},
        "spec": run.body["spec"],
        "dataset": {
            "name": run.spec.dataset_ref.name,
            "sha256": version["sha256"],
            "snapshotUri": version["snapshotUri"],
            "schema": dataset["spec"]["schema"],
            **{recorded: version[recorded] for recorded, _, _ in DATASET_DIGESTS if version.get(recorded)},
        },
    }
    notes = card_notes(metadata.get("annotations"))
    if notes:
        inputs["card"] = notes
    if champion:
        artifact = champion["spec"]["artifact"]
        inputs["champion"] = {
            "modelVersion": champion["metadata"]["name"],
            "uri": artifact["uri"],
            "sha256": artifact["sha256"],
        }
    return inputs


def _listed_versions(dataset: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The versions the Dataset's status lists, by sha256 (as status-shaped dicts: a version
    resolved from the store has the same shape, lifecycle.stored_version)."""
    return {v["sha256"]: v for v in (dataset.get("status") or {}).get("versions") or []}


def _resolve_dataset_version(
    run: RunView, dataset: dict[str, Any] | None, pinned: str | None = None, stored: StoredVersion | None = None
) -> tuple[dict[str, Any] | None, tuple[str, str]]:
    """The version to train on: the one already pinned in status, else the one spec names,
    else the newest valid one; never an invalid one. A pinned version that has left the
    status history is taken from the store (`stored`), verified there."""
    name = run.spec.dataset_ref.name
    if dataset is None:
        return None, (TrainingRunReason.DATASET_NOT_READY, f"Dataset {name} does not exist")
    wanted = pinned or run.spec.dataset_ref.version or (dataset.get("status") or {}).get("latestVersion")
    if not wanted:
        return None, (TrainingRunReason.DATASET_NOT_READY, f"Dataset {name} has no valid version yet")
    version = _listed_versions(dataset).get(wanted)
    if version is None and stored is not None and stored.sha256 == wanted:
        if stored.entry is None:
            return None, (stored.reason, stored.message)
        version = stored.entry
    if version is None:
        return None, (TrainingRunReason.DATASET_NOT_READY, f"Dataset {name} has no version {wanted[:12]}")
    if not version.get("valid") or not version.get("snapshotUri"):
        return None, (
            TrainingRunReason.DATASET_VERSION_INVALID,
            f"Dataset {name} version {wanted[:12]} is invalid: " + "; ".join(version.get("violations") or [])[:1000],
        )
    return version, ("", "")


def _reason_for(problem: tuple[str, str], final: bool) -> tuple[str, str]:
    reason, message = problem
    if reason == TrainingRunReason.DATASET_NOT_READY:
        message += "; gave up waiting" if final else "; waiting"
    return reason, message


def _must_beat_champion(spec: TrainingRunSpec) -> bool:
    gates = spec.evaluation.gates if spec.evaluation else None
    return gates is not None and gates.must_beat_champion


def _follow(outcome: Outcome, run: RunView, observed: TrainingRunObservation, settings: Settings) -> Verdict:
    if run.spec.compute is not None:
        return _follow_dask_job(outcome, run, observed, settings)
    job, job_name = observed.job, run.status.job_name
    if job is None:
        return _ensure_job(outcome, run, observed, settings)
    if not job.finished and observed.pod_problem:
        return Verdict(
            RunPhase.RUNNING, POD_CANNOT_START, f"the pod of Job {job_name} cannot start: {observed.pod_problem}"
        )
    if not job.finished:
        return Verdict(RunPhase.RUNNING, TrainingRunReason.TRAINING, f"Job {job_name} is running")
    if result_pending(job, observed.termination, observed.now):
        return Verdict(
            RunPhase.RUNNING, TrainingRunReason.TRAINING, f"Job {job_name} is running", wake_at=grace_end(job)
        )
    result = parse_result(observed.termination)
    outcome.status["completedAt"] = rfc3339(observed.now)
    if job.succeeded and result and result.get("artifact"):
        return _record_result(outcome, run, result)
    reason, message = _failure(job, result, observed.termination, _memory_limit(run.spec))
    outcome.event("Warning", reason, message)
    return Verdict(RunPhase.FAILED, reason, message)


def _ensure_job(outcome: Outcome, run: RunView, observed: TrainingRunObservation, settings: Settings) -> Verdict:
    """The Job is not in the index: just created, or deleted behind the operator's back. Its
    name is deterministic, so asking for it again cannot make a second one."""
    refused = _refuse_image(outcome, run, settings)  # the settings may have changed since the start
    if refused:
        return refused
    version, problem = _resolve_dataset_version(
        run, observed.dataset, pinned=run.status.dataset_version, stored=observed.stored_version
    )
    if version is None or observed.dataset is None:  # no version without a Dataset
        return Verdict(RunPhase.WAITING, *_reason_for(problem, final=False))
    job = _create_child(
        outcome, run, _inputs(run, version, observed.dataset, _recorded_champion(run, observed)), settings
    )
    return Verdict(RunPhase.RUNNING, TrainingRunReason.TRAINING, f"waiting for {job['kind']} {run.status.job_name}")


def _recorded_champion(run: RunView, observed: TrainingRunObservation) -> dict[str, Any] | None:
    """The champion the run started against, while it is still Production; else train without it."""
    champion = observed.champion
    if not run.status.champion or not champion or champion["metadata"]["name"] != run.status.champion:
        return None
    return champion


def _follow_dask_job(outcome: Outcome, run: RunView, observed: TrainingRunObservation, settings: Settings) -> Verdict:
    """A DaskJob has no deadline, no backoff and no conditions of its own: its runner pod's end is
    the result (the Dask operator then deletes the cluster, and leaves the DaskJob and the runner
    pod, which go with the run), the deadline is counted here from startedAt, and a DaskJob
    the Dask operator made no pod of in engine_response_seconds is EngineNotResponding."""
    name, now = run.status.job_name, observed.now
    assert run.status.started_at is not None  # set with jobName
    deadline = run.status.started_at + timedelta(seconds=run.spec.active_deadline_seconds)
    termination = observed.termination
    if termination is not None:
        outcome.status["completedAt"] = rfc3339(now)
        result = parse_result(termination)
        if termination.get("exitCode") == 0 and result and result.get("artifact"):
            return _record_result(outcome, run, result)
        ended = JobState(finished=True, succeeded=False, message=f"the runner pod of DaskJob {name} failed")
        reason, message = _failure(ended, result, termination, _memory_limit(run.spec))
        outcome.event("Warning", reason, message)
        return Verdict(RunPhase.FAILED, reason, message)
    if now >= deadline:
        outcome.delete_engine_objects.append((DASK_JOB, str(name)))
        outcome.status["completedAt"] = rfc3339(now)
        message = (
            f"DaskJob {name} ran past activeDeadlineSeconds ({run.spec.active_deadline_seconds}s from "
            "startedAt); it is deleted, and its cluster with it"
        )
        outcome.event("Warning", TrainingRunReason.DEADLINE_EXCEEDED, message)
        return Verdict(RunPhase.FAILED, TrainingRunReason.DEADLINE_EXCEEDED, message)
    if observed.pod_problem:
        message = f"a pod of DaskJob {name} cannot start: {observed.pod_problem}"
        return Verdict(RunPhase.RUNNING, POD_CANNOT_START, message, wake_at=deadline)
    if observed.engine_pods:
        return Verdict(RunPhase.RUNNING, TrainingRunReason.TRAINING, f"DaskJob {name} is running", wake_at=deadline)
    # No pod yet: the DaskJob is asked for again (created if absent, so one deleted behind the
    # operator's back comes back), and the Dask operator given engine_response_seconds.
    version, _ = _resolve_dataset_version(
        run, observed.dataset, pinned=run.status.dataset_version, stored=observed.stored_version
    )
    if version is not None and observed.dataset is not None:
        _create_child(
            outcome, run, _inputs(run, version, observed.dataset, _recorded_champion(run, observed)), settings
        )
    silent_until = run.status.started_at + timedelta(seconds=settings.engine_response_seconds)
    if now < silent_until:
        message = f"waiting for the Dask operator to start DaskJob {name}"
        return Verdict(RunPhase.RUNNING, TrainingRunReason.TRAINING, message, wake_at=min(silent_until, deadline))
    message = (
        f"the Dask operator has made no pod of DaskJob {name} in {settings.engine_response_seconds:g}s: "
        f"it is not running, or does not serve namespace {run.body['metadata']['namespace']} "
        "(see docs/distributed-training.md)"
    )
    return Verdict(RunPhase.RUNNING, TrainingRunReason.ENGINE_NOT_RESPONDING, message, wake_at=deadline)


def _memory_limit(spec: TrainingRunSpec) -> str | None:
    limits = spec.resources.limits if spec.resources else None
    memory = limits.get("memory") if limits else None
    return None if memory is None else str(memory)


def _failure(
    job: JobState, result: dict[str, Any] | None, termination: dict[str, Any] | None, memory_limit: str | None
) -> tuple[str, str]:
    if job.reason == TrainingRunReason.DEADLINE_EXCEEDED:
        return TrainingRunReason.DEADLINE_EXCEEDED, f"the training Job ran past activeDeadlineSeconds: {job.message}"
    killed = out_of_memory(termination, memory_limit)
    if killed:
        return OUT_OF_MEMORY, killed
    if result and result.get("reason"):
        return result["reason"], result.get("message") or ""
    tail = message_tail((termination or {}).get("message") or "")
    return TrainingRunReason.TRAINING_FAILED, tail or job.message or "the training pod failed without a message"


def _record_result(outcome: Outcome, run: RunView, result: dict[str, Any]) -> Verdict:
    for field in RESULT_FIELDS:
        if result.get(field) is not None:
            outcome.status[field] = result[field]
    outcome.status["artifact"] = result["artifact"]
    if result.get("keyMetric"):
        outcome.status["keyMetric"] = key_metric_for_status(result["keyMetric"])
    key = result.get("keyMetric") or {}
    summary = f"{key.get('name')}={key.get('value'):.4g}" if key.get("value") is not None else "no key metric"
    if not result.get("passed"):
        failed = [gate["message"] or gate["name"] for gate in result.get("gates") or [] if not gate["passed"]]
        message = "gate failed: " + "; ".join(failed) if failed else (result.get("message") or "gates failed")
        outcome.event("Warning", TrainingRunReason.GATE_FAILED, message)
        return Verdict(RunPhase.FAILED, TrainingRunReason.GATE_FAILED, message)
    manifest = build_model_version(run.body, result)
    outcome.create_objects.append((MODEL_VERSION.plural, manifest))
    outcome.status["modelVersion"] = manifest["metadata"]["name"]
    message = f"{summary}; registered ModelVersion {manifest['metadata']['name']}"
    outcome.event("Normal", TrainingRunReason.TRAINED, message)
    return Verdict(RunPhase.SUCCEEDED, TrainingRunReason.TRAINED, message)


def build_model_version(run: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    """The registry entry for a passed run. It is not owned by the run: registry entries
    outlive the attempts that produced them."""
    spec, status = run["spec"], run.get("status") or {}
    artifact = result["artifact"]
    template = spec.get("modelVersionTemplate") or {}
    mv_spec = {
        "model": spec["model"],
        "artifact": Artifact.model_validate(artifact).to_wire(),
        "source": {
            "trainingRun": run["metadata"]["name"],
            "dataset": {"name": spec["datasetRef"]["name"], "version": status["datasetVersion"]},
        },
    }
    for field in ("serving", "rollout"):
        if template.get(field):
            mv_spec[field] = template[field]
    # The exact inputs, with the dataset version pinned, travel with the registry entry, so
    # `ballast reproduce` works even after the run itself is deleted.
    recorded = {**spec, "datasetRef": {"name": spec["datasetRef"]["name"], "version": status["datasetVersion"]}}
    annotations = {TRAINING_SPEC_ANNOTATION: json.dumps(recorded, sort_keys=True)}
    for _, field, annotation in DATASET_DIGESTS:
        if status.get(field):
            annotations[annotation] = status[field]
    return {
        "apiVersion": "ballast.dev/v1alpha1",
        "kind": "ModelVersion",
        "metadata": {
            "name": model_version_name(spec["model"], artifact["sha256"]),
            "namespace": run["metadata"]["namespace"],
            "labels": {
                "app.kubernetes.io/managed-by": "ballast",
                "ballast.dev/model": spec["model"],
                "ballast.dev/training-run": run["metadata"]["name"],
            },
            "annotations": annotations,
        },
        "spec": mv_spec,
    }
