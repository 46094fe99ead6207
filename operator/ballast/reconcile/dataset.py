"""Dataset: start an ingest Job per spec generation and per refresh, and turn each Job's
result into a version. Invalid content is recorded as an invalid version and never becomes
latestVersion."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ballast.api.dataset import INLINE_MAX_BYTES, DatasetSpec, DatasetStatus, DatasetVersion, IngestRun
from ballast.build.ingest_input import dataset_document
from ballast.build.jobs import build_ingest_job, ingest_job_name
from ballast.build.policy import SourceObjects, source_refusal
from ballast.conditions import ConditionStatus, ConditionType, rfc3339, set_condition, set_progress
from ballast.net.egress import check_url
from ballast.reasons import OUT_OF_MEMORY, POD_CANNOT_START
from ballast.reasons.dataset import DatasetReason
from ballast.reconcile.durations import parse_duration, parse_time
from ballast.reconcile.jobs import (
    JobState,
    grace_end,
    message_tail,
    out_of_memory,
    parse_result,
    result_pending,
)
from ballast.reconcile.outcome import Outcome
from ballast.reconcile.progress import dataset_standing
from ballast.reconcile.typed import Typed, parse_object, parse_status, wire_conditions
from ballast.settings import Settings

MAX_VIOLATIONS = 64
"""As many as DatasetVersion.violations holds, the last one saying how many more there were."""


@dataclass(frozen=True)
class DatasetObservation:
    body: dict[str, Any]
    now: datetime
    job: JobState | None = None
    """The state of status.ingest.jobName's Job, when the index has it."""
    termination: dict[str, Any] | None = None
    """The termination of that Job's newest pod."""
    pod_problem: str | None = None
    """Why that Job's pod cannot start (reconcile.jobs.pod_cannot_start), while it cannot."""
    source_objects: Callable[[Mapping[str, Any]], SourceObjects] = lambda source: SourceObjects()
    """Looks up the claim and Secret a source names (their labels), asked only before a Job
    is created; the default finds nothing, so a pvc or secretRef source is refused."""


DatasetView = Typed[DatasetSpec, DatasetStatus]


def parse_dataset(body: dict[str, Any]) -> DatasetView:
    return parse_object(body, DatasetSpec, DatasetStatus)


def reconcile_dataset(observed: DatasetObservation, settings: Settings) -> Outcome:
    dataset, now = parse_dataset(observed.body), observed.now
    ingest = dataset.status.ingest
    outcome = Outcome()

    if ingest is None or ingest.generation != dataset.generation:
        if ingest is not None and ingest.finished_at is None:
            outcome.delete_jobs.append(ingest.job_name)  # it reads a spec that is gone
        _start_ingest(outcome, observed, dataset, refresh=0, settings=settings)
    elif ingest.finished_at is None:
        _follow_ingest(outcome, dataset, ingest, observed, settings)
    elif _refresh_due(dataset.spec, ingest, now):
        _start_ingest(outcome, observed, dataset, refresh=ingest.refresh + 1, settings=settings)
    else:
        outcome.wake_at = next_refresh(dataset.spec, ingest)

    outcome.status["observedGeneration"] = dataset.generation
    # a pod problem belongs to the Job status names, not to one this reconcile just started
    outcome.status["conditions"] = _conditions(
        dataset, outcome.status, now, None if outcome.create_jobs else observed.pod_problem
    )
    return outcome


def _refuse_source(dataset: DatasetView, observed: DatasetObservation, settings: Settings) -> tuple[str, str] | None:
    """(reason, message) when the source names a claim or Secret the ingest pod may not use, or
    carries more inline data than can reach the pod."""
    source = dataset.spec.source
    wire_source = dataset.body["spec"]["source"]
    refusal = source_refusal(wire_source, observed.source_objects(wire_source), settings)
    if refusal is not None:
        return refusal.reason, refusal.message
    if source.url is not None:  # names are resolved and checked by the ingest pod
        denied = check_url(source.url, settings.egress, resolver=None)
        return (denied.reason, f"spec.source.url: {denied.message}") if denied else None
    if source.inline is not None:
        return _inline_too_large(dataset.body)
    return None


def _inline_too_large(body: dict[str, Any]) -> tuple[str, str] | None:
    size = len(dataset_document(body).encode())
    if size <= INLINE_MAX_BYTES:
        return None
    return (
        DatasetReason.INLINE_DATA_TOO_LARGE,
        f"spec.source.inline.rows: the spec takes {size} bytes as JSON, over the {INLINE_MAX_BYTES} "
        "that can reach the ingest pod; use a url, objectStore or pvc source for this much data",
    )


def _start_ingest(
    outcome: Outcome, observed: DatasetObservation, dataset: DatasetView, *, refresh: int, settings: Settings
) -> None:
    now = observed.now
    started = IngestRun(
        job_name=ingest_job_name(dataset.name, dataset.generation, refresh),
        generation=dataset.generation,
        refresh=refresh,
        started_at=_second(now),
    )
    refused = _refuse_source(dataset, observed, settings)
    if refused:
        # no Job: the attempt ends here, as a failed ingest with the reason and the field
        outcome.status["ingest"] = _wire(
            _finished(started, now, succeeded=False, reason=refused[0], message=refused[1])
        )
        outcome.event("Warning", *refused)
        return
    outcome.create_jobs.append(build_ingest_job(dataset.body, job_name=started.job_name, settings=settings))
    # status is written as a merge patch: the previous ingest's outcome must be removed
    # explicitly (None deletes a key), or the new ingest would look finished at once
    outcome.status["ingest"] = _wire(started)
    why = f"refresh {refresh}" if refresh else f"generation {dataset.generation}"
    outcome.event("Normal", DatasetReason.INGESTING, f"started ingest Job {started.job_name} for {why}")


def _follow_ingest(
    outcome: Outcome, dataset: DatasetView, ingest: IngestRun, observed: DatasetObservation, settings: Settings
) -> None:
    job = observed.job
    if job is None:
        # Not in the index: just created, or deleted behind our back. Creating it again is
        # harmless either way, because the name is deterministic; the source is checked again,
        # since its claim or Secret may have lost its label meanwhile.
        refused = _refuse_source(dataset, observed, settings)
        if refused:
            outcome.status["ingest"] = _wire(
                _finished(ingest, observed.now, succeeded=False, reason=refused[0], message=refused[1])
            )
            outcome.event("Warning", *refused)
            return
        outcome.create_jobs.append(build_ingest_job(dataset.body, job_name=ingest.job_name, settings=settings))
        return
    if not job.finished:
        return
    if result_pending(job, observed.termination, observed.now):
        outcome.wake_at = grace_end(job)
        return
    result = parse_result(observed.termination)
    if result and result.get("ok"):
        _record_version(outcome, dataset, result, observed.now)
        finished = _finished(
            ingest, observed.now, succeeded=True, reason=DatasetReason.INGESTED, message=_ingest_summary(result)
        )
    else:
        reason, message = _ingest_failure(job, result, observed.termination)
        finished = _finished(ingest, observed.now, succeeded=False, reason=reason, message=message)
        outcome.event("Warning", reason, f"ingest {ingest.job_name} failed: {message}")
    outcome.status["ingest"] = _wire(finished)
    outcome.delete_jobs.append(ingest.job_name)


def _finished(ingest: IngestRun, now: datetime, *, succeeded: bool, reason: str, message: str) -> IngestRun:
    return ingest.model_copy(
        update={"finished_at": _second(now), "succeeded": succeeded, "reason": str(reason), "message": message}
    )


def _wire(ingest: IngestRun) -> dict[str, Any]:
    """Every field, None included: a merge patch deletes what None names."""
    return ingest.model_dump(by_alias=True, mode="json")


def _second(moment: datetime) -> datetime:
    """Status times have the API server's second precision (conditions.rfc3339)."""
    return moment.replace(microsecond=0)


def _ingest_failure(
    job: JobState, result: dict[str, Any] | None, termination: dict[str, Any] | None
) -> tuple[str, str]:
    killed = out_of_memory(termination, memory_limit=None)
    if killed:
        return OUT_OF_MEMORY, killed
    reported = result or {}
    fallback = DatasetReason.INGEST_FAILED if job.succeeded else job.reason or DatasetReason.INGEST_FAILED
    reason = reported.get("reason") or fallback
    message = reported.get("message") or message_tail(
        (termination or {}).get("message") or job.message or "the ingest pod left no message"
    )
    return str(reason), message


def _record_version(outcome: Outcome, dataset: DatasetView, result: dict[str, Any], now: datetime) -> None:
    history = dataset.status.versions or []
    versions = [v for v in history if v.sha256 != result["sha256"]]
    known = len(versions) != len(history)
    violations = list(result.get("violations") or [])
    hidden = result.get("violationCount", len(violations)) - len(violations)
    if hidden > 0:
        violations.append(f"... and {hidden} more")
    # the digests pin profile.json and metadata.json: whoever reads them later refuses other bytes
    entry = DatasetVersion(
        sha256=result["sha256"],
        rows=result["rows"],
        created_at=parse_time(result.get("createdAt") or rfc3339(now)),
        valid=bool(result["valid"]),
        snapshot_uri=result.get("snapshotUri") or None,
        profile_uri=result.get("profileUri") or None,
        profile_sha256=result.get("profileSha256") or None,
        metadata_sha256=result.get("metadataSha256") or None,
        violations=violations[:MAX_VIOLATIONS] or None,
    )
    outcome.status["versions"] = [v.to_wire() for v in [entry, *versions][: dataset.spec.version_history_limit]]
    short = entry.sha256[:12]
    if entry.valid:
        outcome.status["latestVersion"] = entry.sha256
        outcome.status["latestRows"] = entry.rows
        if not known:
            outcome.event("Normal", DatasetReason.NEW_VERSION, f"version {short} with {entry.rows} rows is valid")
    else:
        outcome.event(
            "Warning",
            DatasetReason.INVALID_DATA,
            f"version {short} is invalid: " + "; ".join(entry.violations or [])[:900],
        )


def _ingest_summary(result: dict[str, Any]) -> str:
    verdict = "valid" if result.get("valid") else "invalid"
    return f"version {result['sha256'][:12]}: {result['rows']} rows, {verdict}"


def next_refresh(spec: DatasetSpec, ingest: IngestRun) -> datetime | None:
    """When a finished ingest's successor is due; None when the Dataset never refreshes."""
    if not spec.refresh_interval:
        return None
    return ingest.started_at + timedelta(seconds=parse_duration(spec.refresh_interval))


def _refresh_due(spec: DatasetSpec, ingest: IngestRun, now: datetime) -> bool:
    due = next_refresh(spec, ingest)
    return due is not None and now >= due


def _ready(dataset: DatasetView, merged: DatasetStatus, pod_problem: str | None) -> tuple[ConditionStatus, str, str]:
    """(status, reason, message) of Ready, from the status as this reconcile leaves it."""
    ingest = merged.ingest
    newest = merged.versions[0] if merged.versions else None
    finished = ingest if ingest is not None and ingest.finished_at is not None else None
    job_name = ingest.job_name if ingest else None
    if merged.latest_version:
        latest = merged.latest_version
        message = f"latest valid version {latest[:12]} has {merged.latest_rows} rows"
        return "True", DatasetReason.VERSION_AVAILABLE, message
    if finished is not None and finished.succeeded is False:
        return "False", finished.reason or DatasetReason.INGEST_FAILED, finished.message or ""
    if finished is not None and newest is not None and not newest.valid:
        return "False", DatasetReason.INVALID_DATA, "; ".join(newest.violations or [])[:2000]
    if pod_problem and finished is None:
        return "Unknown", POD_CANNOT_START, f"the pod of ingest Job {job_name} cannot start: {pod_problem}"[:2000]
    return "Unknown", DatasetReason.INGESTING, f"ingest Job {job_name} is running"


def _conditions(
    dataset: DatasetView, changes: dict[str, Any], now: datetime, pod_problem: str | None = None
) -> list[dict[str, Any]]:
    merged = parse_status(DatasetStatus, {**(dataset.body.get("status") or {}), **changes, "conditions": []})
    status, reason, message = _ready(dataset, merged, pod_problem)
    stamp = rfc3339(now)
    conditions = set_condition(
        wire_conditions(dataset.status),
        type=ConditionType.READY,
        status=status,
        reason=str(reason),
        message=message,
        observed_generation=dataset.generation,
        now=stamp,
    )
    return set_progress(
        conditions, dataset_standing(merged, dataset.generation), observed_generation=dataset.generation, now=stamp
    )
