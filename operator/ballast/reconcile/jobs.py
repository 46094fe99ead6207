"""Reading a Job's outcome and its pod's result, as kopf's indexes hold them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ballast.models.errors import (
    ArtifactTooLarge,
    DigestMismatch,
    InvalidModelStructure,
    UnsafeArchive,
    UntrustedArtifact,
)
from ballast.reasons import OUT_OF_MEMORY as OUT_OF_MEMORY  # re-exported: importers of their older home
from ballast.reasons import POD_CANNOT_START as POD_CANNOT_START
from ballast.reconcile.durations import parse_time

TERMINATION_GRACE_SECONDS = 15.0
"""How long a finished Job's result may lag behind it: the Job controller can mark the Job
finished before the pod's final status (its termination message) reaches the operator's watch."""


@dataclass(frozen=True)
class JobState:
    finished: bool
    succeeded: bool
    reason: str = ""
    message: str = ""
    finished_at: str | None = None


def job_state(job_status: dict[str, Any]) -> JobState:
    """A Job is finished only once it carries a terminal Complete or Failed condition."""
    for condition in job_status.get("conditions") or []:
        if condition.get("status") != "True":
            continue
        if condition.get("type") == "Complete":
            return JobState(
                finished=True, succeeded=True, reason="Complete", finished_at=condition.get("lastTransitionTime")
            )
        if condition.get("type") == "Failed":
            return JobState(
                finished=True,
                succeeded=False,
                reason=condition.get("reason") or "Failed",
                message=condition.get("message") or "",
                finished_at=condition.get("lastTransitionTime"),
            )
    return JobState(finished=False, succeeded=False)


def result_pending(job: JobState, termination: dict[str, Any] | None, now: datetime) -> bool:
    """A finished Job whose pod's termination has not been seen yet, for a short while: its
    result (or the reason it failed) is about to arrive, and recording the Job's own generic
    reason instead would be final. A pod that never reports (deleted, killed at the deadline)
    is given up on after TERMINATION_GRACE_SECONDS."""
    if not job.finished or termination is not None or not job.finished_at:
        return False
    return (now - parse_time(job.finished_at)).total_seconds() < TERMINATION_GRACE_SECONDS


def grace_end(job: JobState) -> datetime | None:
    """When result_pending stops waiting for a finished Job's pod to report."""
    if not job.finished_at:
        return None
    return parse_time(job.finished_at) + timedelta(seconds=TERMINATION_GRACE_SECONDS)


def pod_termination(pod_status: dict[str, Any]) -> dict[str, Any] | None:
    """The first container's termination: exit code, finish time and message, once it ended."""
    for container in pod_status.get("containerStatuses") or []:
        terminated = (container.get("state") or {}).get("terminated")
        if terminated:
            return {
                "exitCode": terminated.get("exitCode"),
                "finishedAt": terminated.get("finishedAt") or "",
                "message": terminated.get("message") or "",
                "reason": terminated.get("reason") or "",
            }
    return None


_STUCK_WAITING = (
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
)


def pod_cannot_start(pod_status: dict[str, Any]) -> str | None:
    """Why a pod cannot start, in the words of the scheduler or the kubelet: no node will take
    it (a nodeSelector or toleration that matches nothing, too few resources), or its image
    or configuration is wrong. None while it is merely on its way."""
    for condition in pod_status.get("conditions") or []:
        if (
            condition.get("type") == "PodScheduled"
            and condition.get("status") == "False"
            and condition.get("reason") == "Unschedulable"
        ):
            return f"Unschedulable: {condition.get('message') or 'no node can take it'}"
    for container in [*(pod_status.get("initContainerStatuses") or []), *(pod_status.get("containerStatuses") or [])]:
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in _STUCK_WAITING:
            return f"{waiting['reason']}: {waiting.get('message') or ''}".rstrip(": ")
    return None


POD_START_GRACE_SECONDS = 10.0
"""How long a pod may look stuck before it is named: the scheduler's first answer is often that
the store's claim is not bound yet, and a moment later the pod starts."""


@dataclass(frozen=True)
class StuckPod:
    problem: str
    since: datetime
    """When it began to look stuck: its PodScheduled condition's last transition when no node
    takes it, else its creation."""


def stuck_pod(pod_status: dict[str, Any], created_at: str | None) -> StuckPod | None:
    """pod_cannot_start, and since when."""
    problem = pod_cannot_start(pod_status)
    if problem is None:
        return None
    scheduled: dict[str, Any] = next(
        (c for c in pod_status.get("conditions") or [] if c.get("type") == "PodScheduled"), {}
    )
    began = scheduled.get("lastTransitionTime") if scheduled.get("status") == "False" else created_at
    return StuckPod(problem, parse_time(began) if began else datetime.min.replace(tzinfo=UTC))


def lasting_problem(stuck: StuckPod | None, now: datetime) -> tuple[str | None, datetime | None]:
    """The pod's problem once it has lasted POD_START_GRACE_SECONDS; before that, None and when
    to look again (nothing else may change while a pod stays stuck)."""
    if stuck is None:
        return None, None
    named_at = stuck.since + timedelta(seconds=POD_START_GRACE_SECONDS)
    return (stuck.problem, None) if now >= named_at else (None, named_at)


FEEDBACK_TOKEN_UNREADABLE = "FeedbackTokenUnreadable"
"""ballast.serving.auth's start-up reason for a token file it cannot use; spelled out here since
importing ballast.serving would load the model libraries into the operator."""
SERVING_REFUSALS = frozenset(
    {
        InvalidModelStructure.reason,
        UntrustedArtifact.reason,
        UnsafeArchive.reason,
        DigestMismatch.reason,
        ArtifactTooLarge.reason,
        FEEDBACK_TOKEN_UNREADABLE,
    }
)
"""Reasons a model server gives for refusing to start (ballast.runtime.serve writes them to its
termination log) that no restart changes: the same bytes, token or limit are refused again. A
store that could not be reached is left out: the next restart may well succeed."""
REFUSAL_MESSAGE_LIMIT = 400


@dataclass(frozen=True)
class StartRefusal:
    """A serving pod's model server refused its model at start-up, by the server's own reason."""

    reason: str
    message: str


def serving_start_refusal(pod_status: dict[str, Any]) -> StartRefusal | None:
    """The refusal a serving container ended with (it then sits in CrashLoopBackOff, or is
    running its next attempt, which will end the same way), or None. Only a JSON termination
    message with one of SERVING_REFUSALS counts: a message that falls back to the log's tail
    (FallbackToLogsOnError) is not the server's verdict."""
    for container in pod_status.get("containerStatuses") or []:
        if container.get("ready"):
            continue
        terminated = (container.get("state") or {}).get("terminated") or (container.get("lastState") or {}).get(
            "terminated"
        )
        result = parse_result(terminated)
        if result and result.get("reason") in SERVING_REFUSALS:
            message = str(result.get("message") or "")
            if len(message) > REFUSAL_MESSAGE_LIMIT:
                message = message[:REFUSAL_MESSAGE_LIMIT] + "…"
            return StartRefusal(reason=result["reason"], message=message)
    return None


def out_of_memory(termination: dict[str, Any] | None, memory_limit: str | None) -> str | None:
    """Why a pod's end was the runtime's OOM kill, or None when it was not. The kernel's kill
    leaves no result and often no log line, so the runtime's own reason is the one witness."""
    if not termination or termination.get("reason") != "OOMKilled":
        return None
    limit = f"its memory limit of {memory_limit}" if memory_limit else "the memory available to it"
    return (
        f"the container was killed by the runtime (OOMKilled) for using more than {limit}; "
        "raise resources.limits.memory or use less data"
    )


def result_termination(terminations: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The termination that carries a Job's result: a pod that succeeded (a Job completes on its
    first), else the newest. A pod deleted mid-run ends only when its grace period does, which
    can be after its replacement has succeeded; its empty end must not hide the result."""
    succeeded = [t for t in terminations if t.get("exitCode") == 0]
    return max(succeeded or terminations, key=lambda t: t.get("finishedAt") or "", default=None)


def parse_result(termination: dict[str, Any] | None) -> dict[str, Any] | None:
    """The JSON result a Ballast pod wrote to its termination log, or None if it wrote none
    (a crash: then the message is the tail of its log, which the caller shows as it is)."""
    if not termination or not termination.get("message"):
        return None
    try:
        result = json.loads(termination["message"])
    except ValueError:
        return None
    return result if isinstance(result, dict) else None


def message_tail(text: str, limit: int = 600) -> str:
    text = text.strip()
    return text if len(text) <= limit else "…" + text[-limit:]
