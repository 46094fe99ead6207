"""Where each kind's object stands for kstatus and Argo CD: working, done or failed.

kstatus (sigs.k8s.io/cli-utils, what Flux, kpt and Config Sync wait on) reads Ready False and
Ready Unknown alike as InProgress, so without Stalled a failed object would be waited on until a
timeout. Each function here reads what the kind's reconcile decided and says which it is;
ballast.conditions.set_progress writes it. The Argo CD health checks (manifests/argocd) map the
same states to Progressing, Healthy and Degraded, and docs/conditions.md lists them.
"""

from __future__ import annotations

from collections.abc import Sequence

from ballast.api.dataset import DatasetStatus
from ballast.api.driftpolicy import CheckResult
from ballast.conditions import ConditionStatus, Progress, Standing
from ballast.reasons.dataset import DatasetReason
from ballast.reasons.driftpolicy import Verdict
from ballast.reasons.modelversion import Reason
from ballast.reasons.trainingrun import RunPhase

RUN_PROGRESS: dict[RunPhase, Progress] = {
    RunPhase.RUNNING: Progress.WORKING,
    RunPhase.WAITING: Progress.WORKING,  # for its Dataset, until dataset_wait_seconds run out
    RunPhase.SUCCEEDED: Progress.DONE,
    RunPhase.FAILED: Progress.FAILED,
}

MODEL_VERSION_WORKING_WHILE_NOT_READY = frozenset({Reason.REPLICAS_UNAVAILABLE})
"""Ready False reasons of a ModelVersion that its Deployment is working on, as kstatus reads a
Deployment whose replicas are not all available: InProgress, not Failed."""


def dataset_standing(status: DatasetStatus, generation: int) -> Standing:
    """status: as the reconcile leaves it. Only what the spec as it is now has not reached counts:
    a refresh of a Dataset that has a valid version is routine (a refresh running does not hold
    up a Flux wait, one that failed leaves the version there to train on), while the first
    ingest of a new spec, or any ingest before a first valid version, is the work or the failure."""
    ingest = status.ingest
    if ingest is None:
        return Standing(Progress.WORKING, DatasetReason.INGESTING, "no ingest started yet")
    newest = status.versions[0] if status.versions else None
    about_this_spec = (ingest.generation == generation and ingest.refresh == 0) or not status.latest_version
    if ingest.finished_at is None:
        if not about_this_spec:
            return Standing(Progress.DONE, DatasetReason.REFRESHING, f"refresh ingest Job {ingest.job_name}")
        return Standing(Progress.WORKING, DatasetReason.INGESTING, f"ingest Job {ingest.job_name} is running")
    if about_this_spec and ingest.succeeded is False:
        return Standing(Progress.FAILED, ingest.reason or DatasetReason.INGEST_FAILED, ingest.message or "")
    if about_this_spec and newest is not None and not newest.valid:
        return Standing(Progress.FAILED, DatasetReason.INVALID_DATA, "; ".join(newest.violations or [])[:2000])
    return Standing(Progress.DONE, DatasetReason.VERSION_AVAILABLE)


def run_standing(phase: RunPhase, reason: str, message: str) -> Standing:
    """A run is one attempt: once over (succeeded or failed) it stays so."""
    return Standing(RUN_PROGRESS[phase], reason, message)


def finished_run_phase(succeeded: ConditionStatus) -> RunPhase:
    """The phase of a run whose Succeeded condition is True or False."""
    return RunPhase.SUCCEEDED if succeeded == "True" else RunPhase.FAILED


def model_version_standing(
    ready: ConditionStatus, reason: str, message: str, *, verified: bool, verification: tuple[str, str]
) -> Standing:
    """Ready as the reconcile leaves it; verification: the (reason, message) of the last
    verification of the artifact. An artifact that does not verify is never served again
    until its bytes change, whatever the stage; a rolled-back canary and a model the server
    refuses at start-up are over too. Queued, deploying, in a canary step, awaiting approval
    or rolling back is work under way."""
    if not verified:
        return Standing(Progress.FAILED, *verification)
    if ready == "True":
        return Standing(Progress.DONE, reason)
    if ready == "Unknown" or reason in MODEL_VERSION_WORKING_WHILE_NOT_READY:
        return Standing(Progress.WORKING, reason, message)
    return Standing(Progress.FAILED, reason, message)


def drift_policy_standing(
    ready: ConditionStatus, reason: str, message: str, *, verdict: Verdict | None, checks: Sequence[CheckResult]
) -> Standing:
    """Ready as the reconcile leaves it; verdict and checks: the last evaluation's. Drift is what
    the policy is there to find, not a failure of the policy: a drifting policy that watches is
    done (Current), and the drift is told by the Drifting condition, the DriftDetected Event and
    the drift alerts. Were it Failed, every drift would fail the Flux Kustomization (or stop
    the Argo CD sync wave) that applies the policy. A policy whose checks all fail outright
    (the server exports no reference) or that cannot work (Ready False) has failed."""
    if ready == "False":
        return Standing(Progress.FAILED, reason, message)
    if verdict is Verdict.ERROR:
        failed = [f"{check.name}: {check.message}" for check in checks if check.verdict is Verdict.ERROR]
        return Standing(Progress.FAILED, Verdict.ERROR, "; ".join(failed)[:2000] or "every check failed")
    if ready == "Unknown":
        return Standing(Progress.WORKING, reason, message)
    return Standing(Progress.DONE, reason)
