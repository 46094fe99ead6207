"""Dataset: start an ingest Job per spec generation and per refresh, and turn each Job's
result into a version. Invalid content is recorded as an invalid version and never becomes
latestVersion."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from ballast.build.jobs import build_ingest_job, ingest_job_name
from ballast.build.policy import SourceObjects, source_refusal
from ballast.conditions import rfc3339, set_condition
from ballast.net.egress import check_url
from ballast.reconcile.durations import parse_duration, parse_time
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

FINISHED_FIELDS = ("finishedAt", "succeeded", "reason", "message")


@dataclass(frozen=True)
class DatasetObservation:
    body: dict
    now: datetime
    job: JobState | None = None
    """The state of status.ingest.jobName's Job, when the index has it."""
    termination: dict | None = None
    """The termination of that Job's newest pod."""
    pod_problem: str | None = None
    """Why that Job's pod cannot start (reconcile.jobs.pod_cannot_start), while it cannot."""
    source_objects: Callable[[Mapping], SourceObjects] = lambda source: SourceObjects()
    """Looks up the claim and Secret a source names (their labels), asked only before a Job
    is created; the default finds nothing, so a pvc or secretRef source is refused."""


def ingest_in_flight(status: dict) -> bool:
    ingest = status.get("ingest")
    return bool(ingest) and not ingest.get("finishedAt")


def reconcile_dataset(observed: DatasetObservation, settings: Settings) -> Outcome:
    body, now = observed.body, observed.now
    generation = body["metadata"]["generation"]
    status = body.get("status") or {}
    ingest = status.get("ingest")
    outcome = Outcome()

    if not ingest or ingest.get("generation") != generation:
        if ingest and not ingest.get("finishedAt"):
            outcome.delete_jobs.append(ingest["jobName"])  # it reads a spec that is gone
        _start_ingest(outcome, observed, generation, refresh=0, settings=settings)
    elif not ingest.get("finishedAt"):
        _follow_ingest(outcome, body, ingest, observed, settings)
    elif _refresh_due(body, ingest, now):
        _start_ingest(outcome, observed, generation, refresh=ingest.get("refresh", 0) + 1, settings=settings)

    outcome.status["observedGeneration"] = generation
    # a pod problem belongs to the Job status names, not to one this reconcile just started
    outcome.status["conditions"] = _conditions(
        status, outcome.status, generation, now, None if outcome.create_jobs else observed.pod_problem
    )
    return outcome


def _refuse_source(observed: DatasetObservation, settings: Settings) -> tuple[str, str] | None:
    """(reason, message) when the source names a claim or Secret the ingest pod may not use."""
    source = observed.body["spec"]["source"]
    refusal = source_refusal(source, observed.source_objects(source), settings)
    if refusal is None and source.get("url"):  # names are resolved and checked by the ingest pod
        denied = check_url(source["url"], settings.egress, resolver=None)
        return (denied.reason, f"spec.source.url: {denied.message}") if denied else None
    return (refusal.reason, refusal.message) if refusal else None


def _start_ingest(
    outcome: Outcome, observed: DatasetObservation, generation: int, *, refresh: int, settings: Settings
) -> None:
    body, now = observed.body, observed.now
    job_name = ingest_job_name(body["metadata"]["name"], generation, refresh)
    refused = _refuse_source(observed, settings)
    if refused:
        # no Job: the attempt ends here, as a failed ingest with the reason and the field
        outcome.status["ingest"] = {
            "jobName": job_name,
            "generation": generation,
            "refresh": refresh,
            "startedAt": rfc3339(now),
            "finishedAt": rfc3339(now),
            "succeeded": False,
            "reason": refused[0],
            "message": refused[1],
        }
        outcome.event("Warning", *refused)
        return
    outcome.create_jobs.append(build_ingest_job(body, job_name=job_name, settings=settings))
    # status is written as a merge patch: the previous ingest's outcome must be removed
    # explicitly (None deletes a key), or the new ingest would look finished at once
    outcome.status["ingest"] = {
        "jobName": job_name,
        "generation": generation,
        "refresh": refresh,
        "startedAt": rfc3339(now),
        **dict.fromkeys(FINISHED_FIELDS),
    }
    why = f"refresh {refresh}" if refresh else f"generation {generation}"
    outcome.event("Normal", "Ingesting", f"started ingest Job {job_name} for {why}")


def _follow_ingest(
    outcome: Outcome, body: dict, ingest: dict, observed: DatasetObservation, settings: Settings
) -> None:
    job = observed.job
    if job is None:
        # Not in the index: just created, or deleted behind our back. Creating it again is
        # harmless either way, because the name is deterministic; the source is checked again,
        # since its claim or Secret may have lost its label meanwhile.
        refused = _refuse_source(observed, settings)
        if refused:
            outcome.status["ingest"] = {
                **ingest,
                "finishedAt": rfc3339(observed.now),
                "succeeded": False,
                "reason": refused[0],
                "message": refused[1],
            }
            outcome.event("Warning", *refused)
            return
        outcome.create_jobs.append(build_ingest_job(body, job_name=ingest["jobName"], settings=settings))
        return
    if not job.finished or result_pending(job, observed.termination, observed.now):
        return
    result = parse_result(observed.termination)
    finished = {**ingest, "finishedAt": rfc3339(observed.now)}
    if result and result.get("ok"):
        _record_version(outcome, body, result, observed.now)
        finished.update(succeeded=True, reason="Ingested", message=_ingest_summary(result))
    else:
        reason, message = _ingest_failure(job, result, observed.termination)
        finished.update(succeeded=False, reason=reason, message=message)
        outcome.event("Warning", reason, f"ingest {ingest['jobName']} failed: {message}")
    outcome.status["ingest"] = finished
    outcome.delete_jobs.append(ingest["jobName"])


def _ingest_failure(job: JobState, result: dict | None, termination: dict | None) -> tuple[str, str]:
    killed = out_of_memory(termination, memory_limit=None)
    if killed:
        return OUT_OF_MEMORY, killed
    reason = (result or {}).get("reason") or ("IngestFailed" if job.succeeded else job.reason or "IngestFailed")
    message = (result or {}).get("message") or message_tail(
        (termination or {}).get("message") or job.message or "the ingest pod left no message"
    )
    return reason, message


def _record_version(outcome: Outcome, body: dict, result: dict, now: datetime) -> None:
    status = body.get("status") or {}
    versions = [v for v in status.get("versions") or [] if v.get("sha256") != result["sha256"]]
    known = len(versions) != len(status.get("versions") or [])
    entry = {
        "sha256": result["sha256"],
        "rows": result["rows"],
        "createdAt": result.get("createdAt") or rfc3339(now),
        "valid": bool(result["valid"]),
    }
    # the digests pin profile.json and metadata.json: whoever reads them later refuses other bytes
    for field in ("snapshotUri", "profileUri", "profileSha256", "metadataSha256"):
        if result.get(field):
            entry[field] = result[field]
    if result.get("violations"):
        violations = list(result["violations"])
        hidden = result.get("violationCount", len(violations)) - len(violations)
        if hidden > 0:
            violations.append(f"... and {hidden} more")
        entry["violations"] = violations[:64]
    limit = body["spec"].get("versionHistoryLimit", 10)
    outcome.status["versions"] = [entry, *versions][:limit]
    short = result["sha256"][:12]
    if entry["valid"]:
        outcome.status["latestVersion"] = result["sha256"]
        outcome.status["latestRows"] = result["rows"]
        if not known:
            outcome.event("Normal", "NewVersion", f"version {short} with {result['rows']} rows is valid")
    else:
        outcome.event(
            "Warning", "InvalidData", f"version {short} is invalid: " + "; ".join(entry.get("violations", []))[:900]
        )


def _ingest_summary(result: dict) -> str:
    verdict = "valid" if result.get("valid") else "invalid"
    return f"version {result['sha256'][:12]}: {result['rows']} rows, {verdict}"


def _refresh_due(body: dict, ingest: dict, now: datetime) -> bool:
    interval = body["spec"].get("refreshInterval")
    if not interval:
        return False
    return (now - parse_time(ingest["startedAt"])).total_seconds() >= parse_duration(interval)


def _conditions(
    status: dict, changes: dict, generation: int, now: datetime, pod_problem: str | None = None
) -> list[dict]:
    merged = {**status, **changes}
    ingest = merged.get("ingest") or {}
    latest = merged.get("latestVersion")
    newest = (merged.get("versions") or [{}])[0]
    if latest:
        ready = ("True", "VersionAvailable", f"latest valid version {latest[:12]} has {merged.get('latestRows')} rows")
    elif ingest.get("finishedAt") and ingest.get("succeeded") is False:
        ready = ("False", ingest.get("reason") or "IngestFailed", ingest.get("message") or "")
    elif ingest.get("finishedAt") and newest and newest.get("valid") is False:
        ready = ("False", "InvalidData", "; ".join(newest.get("violations") or [])[:2000])
    elif pod_problem and not ingest.get("finishedAt"):
        ready = (
            "Unknown",
            POD_CANNOT_START,
            f"the pod of ingest Job {ingest.get('jobName')} cannot start: {pod_problem}"[:2000],
        )
    else:
        ready = ("Unknown", "Ingesting", f"ingest Job {ingest.get('jobName')} is running")
    stamp = rfc3339(now)
    conditions = set_condition(
        status.get("conditions"),
        type="Ready",
        status=ready[0],
        reason=ready[1],
        message=ready[2],
        observed_generation=generation,
        now=stamp,
    )
    busy = bool(ingest) and not ingest.get("finishedAt")
    return set_condition(
        conditions,
        type="Reconciling",
        status="True" if busy else "False",
        reason="Ingesting" if busy else "Idle",
        message=f"ingest Job {ingest.get('jobName')}" if busy else "",
        observed_generation=generation,
        now=stamp,
    )
