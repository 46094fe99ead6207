"""TrainingRun: pin the dataset version once, run one training Job, record what it produced,
and register a ModelVersion when the gates pass."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from ballast.build.jobs import build_training_job
from ballast.build.naming import child_name
from ballast.build.policy import custom_image_refusal
from ballast.conditions import find_condition, rfc3339, set_condition
from ballast.lifecycle.stored_version import PinnedVersion, StoredVersion
from ballast.reconcile.durations import parse_time
from ballast.reconcile.jobs import (
    OUT_OF_MEMORY,
    POD_CANNOT_START,
    JobState,
    message_tail,
    out_of_memory,
    parse_result,
    result_pending,
)
from ballast.reconcile.outcome import Outcome
from ballast.settings import Settings

RESULT_FIELDS = ("metrics", "keyMetric", "params", "gates", "reproducibility")
TRAINING_SPEC_ANNOTATION = "ballast.dev/training-spec"
PROFILE_SHA256_ANNOTATION = "ballast.dev/dataset-profile-sha256"
METADATA_SHA256_ANNOTATION = "ballast.dev/dataset-metadata-sha256"
# what a Dataset version records -> the pinned run's status field -> the ModelVersion's annotation
DATASET_DIGESTS = (
    ("profileSha256", "datasetProfileSha256", PROFILE_SHA256_ANNOTATION),
    ("metadataSha256", "datasetMetadataSha256", METADATA_SHA256_ANNOTATION),
)


@dataclass(frozen=True)
class TrainingRunObservation:
    body: dict
    now: datetime
    dataset: dict | None = None
    """The Dataset that spec.datasetRef names (metadata, spec, status), if it exists."""
    champion: dict | None = None
    """The model's Production ModelVersion (metadata, spec), if there is one."""
    job: JobState | None = None
    termination: dict | None = None
    pod_problem: str | None = None
    """Why the Job's pod cannot start (reconcile.jobs.pod_cannot_start), while it cannot."""
    stored_version: StoredVersion | None = None
    """The pinned version as the store has it, when the Dataset's status no longer lists it
    (see `version_to_look_up`)."""


def version_to_look_up(body: dict, dataset: dict | None) -> PinnedVersion | None:
    """The pinned version (by spec or, once started, by status) that the Dataset's status no
    longer lists: the handler resolves it from the store's metadata. None when there is nothing
    to look up (no Dataset, no pin, or the version is in status)."""
    if dataset is None or is_finished(body.get("status") or {}):
        return None
    status = body.get("status") or {}
    ref = body["spec"]["datasetRef"]
    wanted = status.get("datasetVersion") or ref.get("version")
    listed = {v.get("sha256") for v in (dataset.get("status") or {}).get("versions") or []}
    if not wanted or wanted in listed:
        return None
    started = bool(status.get("datasetVersion"))
    return PinnedVersion(
        dataset=ref["name"],
        sha256=wanted,
        metadata_sha256=status.get("datasetMetadataSha256") if started else None,
        profile_sha256=status.get("datasetProfileSha256") if started else None,
    )


def is_finished(status: dict) -> bool:
    succeeded = find_condition(status.get("conditions"), "Succeeded")
    return bool(succeeded) and succeeded["status"] in ("True", "False")


def in_flight(status: dict) -> bool:
    return not is_finished(status)


def model_version_name(model: str, sha256: str) -> str:
    """Registry entries are named by content: the same artifact is the same ModelVersion."""
    return child_name(model, sha256[:12])


def reconcile_training_run(observed: TrainingRunObservation, settings: Settings) -> Outcome:
    body = observed.body
    status = body.get("status") or {}
    generation = body["metadata"]["generation"]
    outcome = Outcome(status={"observedGeneration": generation})
    if is_finished(status):
        return outcome
    if not status.get("jobName"):
        _start(outcome, observed, settings)
    else:
        _follow(outcome, observed, settings)
    _set_conditions(outcome, status, generation, observed.now)
    return outcome


def _set_conditions(outcome: Outcome, status: dict, generation: int, now: datetime) -> None:
    """Ready and Succeeded from what this reconcile decided (outcome.status['_state'])."""
    state, reason, message = outcome.status.pop("_state")
    ready, succeeded = {
        "running": ("Unknown", "Unknown"),
        "waiting": ("False", "Unknown"),
        "succeeded": ("True", "True"),
        "failed": ("False", "False"),
    }[state]
    stamp = rfc3339(now)
    conditions = set_condition(
        status.get("conditions"),
        type="Ready",
        status=ready,
        reason=reason,
        message=message,
        observed_generation=generation,
        now=stamp,
    )
    outcome.status["conditions"] = set_condition(
        conditions,
        type="Succeeded",
        status=succeeded,
        reason=reason,
        message=message,
        observed_generation=generation,
        now=stamp,
    )


def _start(outcome: Outcome, observed: TrainingRunObservation, settings: Settings) -> None:
    body, now = observed.body, observed.now
    spec = body["spec"]
    if _refuse_image(outcome, spec, settings):
        return
    version, problem = _resolve_dataset_version(spec, observed.dataset, stored=observed.stored_version)
    if version is None:
        waited = (now - parse_time(body["metadata"]["creationTimestamp"])).total_seconds()
        final = problem[0] == "DatasetVersionInvalid" or waited >= settings.dataset_wait_seconds
        reason, message = _reason_for(problem, final)
        outcome.status["_state"] = ("failed" if final else "waiting", reason, message)
        if final:
            outcome.event("Warning", reason, message)
        return
    champion = observed.champion if _must_beat_champion(spec) else None
    job = build_training_job(body, inputs=_inputs(body, version, observed.dataset, champion), settings=settings)
    outcome.create_jobs.append(job)
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
    outcome.status["_state"] = ("running", "Training", f"training on dataset version {short}")
    outcome.event(
        "Normal",
        "Training",
        f"started Job {job['metadata']['name']} on dataset {spec['datasetRef']['name']} version {short}",
    )


def _refuse_image(outcome: Outcome, spec: dict, settings: Settings) -> bool:
    """A custom image or command the administrator does not allow fails the run, and no Job is
    created. Runs a DriftPolicy creates from its template meet the same check here."""
    refusal = custom_image_refusal(spec, settings)
    if refusal is None:
        return False
    outcome.status["_state"] = ("failed", refusal.reason, refusal.message)
    outcome.event("Warning", refusal.reason, refusal.message)
    return True


def _inputs(body: dict, version: dict, dataset: dict, champion: dict | None) -> dict:
    """What `ballast train` reads (see ballast.runtime.train)."""
    spec = body["spec"]
    inputs = {
        "trainingRun": {key: body["metadata"][key] for key in ("namespace", "name", "uid")},
        "spec": spec,
        "dataset": {
            "name": spec["datasetRef"]["name"],
            "sha256": version["sha256"],
            "snapshotUri": version["snapshotUri"],
            "schema": dataset["spec"]["schema"],
            **{recorded: version[recorded] for recorded, _, _ in DATASET_DIGESTS if version.get(recorded)},
        },
    }
    if champion:
        artifact = champion["spec"]["artifact"]
        inputs["champion"] = {
            "modelVersion": champion["metadata"]["name"],
            "uri": artifact["uri"],
            "sha256": artifact["sha256"],
        }
    return inputs


def _resolve_dataset_version(
    spec: dict, dataset: dict | None, pinned: str | None = None, stored: StoredVersion | None = None
) -> tuple[dict | None, tuple[str, str]]:
    """The version to train on: the one already pinned in status, else the one spec names,
    else the newest valid one; never an invalid one. A pinned version that has left the
    status history is taken from the store (`stored`), verified there."""
    ref = spec["datasetRef"]
    if dataset is None:
        return None, ("DatasetNotReady", f"Dataset {ref['name']} does not exist")
    dataset_status = dataset.get("status") or {}
    versions = {v["sha256"]: v for v in dataset_status.get("versions") or []}
    wanted = pinned or ref.get("version") or dataset_status.get("latestVersion")
    if not wanted:
        return None, ("DatasetNotReady", f"Dataset {ref['name']} has no valid version yet")
    version = versions.get(wanted)
    if version is None and stored is not None and stored.sha256 == wanted:
        if stored.entry is None:
            return None, (stored.reason, stored.message)
        version = stored.entry
    if version is None:
        return None, ("DatasetNotReady", f"Dataset {ref['name']} has no version {wanted[:12]}")
    if not version.get("valid") or not version.get("snapshotUri"):
        return None, (
            "DatasetVersionInvalid",
            f"Dataset {ref['name']} version {wanted[:12]} is invalid: "
            + "; ".join(version.get("violations") or [])[:1000],
        )
    return version, ("", "")


def _reason_for(problem: tuple[str, str], final: bool) -> tuple[str, str]:
    reason, message = problem
    if reason == "DatasetNotReady":
        message += "; gave up waiting" if final else "; waiting"
    return reason, message


def _must_beat_champion(spec: dict) -> bool:
    return bool(((spec.get("evaluation") or {}).get("gates") or {}).get("mustBeatChampion"))


def _follow(outcome: Outcome, observed: TrainingRunObservation, settings: Settings) -> None:
    body, job = observed.body, observed.job
    status = body.get("status") or {}
    if job is None:
        _ensure_job(outcome, observed, settings)
        return
    if not job.finished and observed.pod_problem:
        outcome.status["_state"] = (
            "running",
            POD_CANNOT_START,
            f"the pod of Job {status['jobName']} cannot start: {observed.pod_problem}",
        )
        return
    if not job.finished or result_pending(job, observed.termination, observed.now):
        outcome.status["_state"] = ("running", "Training", f"Job {status['jobName']} is running")
        return
    result = parse_result(observed.termination)
    outcome.status["completedAt"] = rfc3339(observed.now)
    if job.succeeded and result and result.get("artifact"):
        _record_result(outcome, body, result)
    else:
        reason, message = _failure(job, result, observed.termination, _memory_limit(body["spec"]))
        outcome.status["_state"] = ("failed", reason, message)
        outcome.event("Warning", reason, message)


def _ensure_job(outcome: Outcome, observed: TrainingRunObservation, settings: Settings) -> None:
    """The Job is not in the index: just created, or deleted behind the operator's back. Its
    name is deterministic, so asking for it again cannot make a second one."""
    body, status = observed.body, observed.body.get("status") or {}
    if _refuse_image(outcome, body["spec"], settings):  # the settings may have changed since the start
        return
    version, problem = _resolve_dataset_version(
        body["spec"], observed.dataset, pinned=status["datasetVersion"], stored=observed.stored_version
    )
    if version is None:
        outcome.status["_state"] = ("waiting", *_reason_for(problem, final=False))
        return
    champion = observed.champion
    if status.get("champion") and (not champion or champion["metadata"]["name"] != status["champion"]):
        champion = None  # the recorded champion is no longer Production; train without it
    outcome.create_jobs.append(
        build_training_job(body, inputs=_inputs(body, version, observed.dataset, champion), settings=settings)
    )
    outcome.status["_state"] = ("running", "Training", f"waiting for Job {status['jobName']}")


def _memory_limit(spec: dict) -> str | None:
    return ((spec.get("resources") or {}).get("limits") or {}).get("memory")


def _failure(job: JobState, result: dict | None, termination: dict | None, memory_limit: str | None) -> tuple[str, str]:
    if job.reason == "DeadlineExceeded":
        return "DeadlineExceeded", f"the training Job ran past activeDeadlineSeconds: {job.message}"
    killed = out_of_memory(termination, memory_limit)
    if killed:
        return OUT_OF_MEMORY, killed
    if result and result.get("reason"):
        return result["reason"], result.get("message") or ""
    tail = message_tail((termination or {}).get("message") or "")
    return "TrainingFailed", tail or job.message or "the training pod failed without a message"


def _record_result(outcome: Outcome, body: dict, result: dict) -> None:
    for field in RESULT_FIELDS:
        if result.get(field) is not None:
            outcome.status[field] = result[field]
    outcome.status["artifact"] = result["artifact"]
    key = result.get("keyMetric") or {}
    summary = f"{key.get('name')}={key.get('value'):.4g}" if key.get("value") is not None else "no key metric"
    if not result.get("passed"):
        failed = [gate["message"] or gate["name"] for gate in result.get("gates") or [] if not gate["passed"]]
        message = "gate failed: " + "; ".join(failed) if failed else (result.get("message") or "gates failed")
        outcome.status["_state"] = ("failed", "GateFailed", message)
        outcome.event("Warning", "GateFailed", message)
        return
    manifest = build_model_version(body, result)
    outcome.create_objects.append(("modelversions", manifest))
    outcome.status["modelVersion"] = manifest["metadata"]["name"]
    outcome.status["_state"] = (
        "succeeded",
        "Trained",
        f"{summary}; registered ModelVersion {manifest['metadata']['name']}",
    )
    outcome.event("Normal", "Trained", f"{summary}; registered ModelVersion {manifest['metadata']['name']}")


def build_model_version(run: dict, result: dict) -> dict:
    """The registry entry for a passed run. It is not owned by the run: registry entries
    outlive the attempts that produced them."""
    spec, status = run["spec"], run.get("status") or {}
    artifact = result["artifact"]
    template = spec.get("modelVersionTemplate") or {}
    mv_spec = {
        "model": spec["model"],
        "artifact": {"uri": artifact["uri"], "sha256": artifact["sha256"], "format": artifact.get("format", "skops")},
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
