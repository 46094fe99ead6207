"""ModelVersion: Ready only while the artifact verifies; metrics and lineage come from the
metadata.json the trainer wrote beside it; serving-enabled versions get a Deployment and a
stage among their model's versions (see ballast.reconcile.serving)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ballast.api.common import key_metric_for_status
from ballast.api.modelversion import AutoscalingSpec, ModelVersionSpec
from ballast.build.autoscaler import (
    REPLICAS_HANDOVER_MANAGER,
    build_replicas_handover,
    build_serving_autoscaler,
    handover_replicas,
    serving_autoscaler_name,
)
from ballast.build.serving import SPEC_HASH_ANNOTATION, build_model_service, build_serving_deployment
from ballast.canary.samples import Sample
from ballast.conditions import ConditionType, rfc3339, set_condition, set_progress
from ballast.reasons.modelversion import ARTIFACT_VERIFIED, Reason, Stage
from ballast.reconcile.jobs import POD_CANNOT_START, StartRefusal
from ballast.reconcile.outcome import Outcome
from ballast.reconcile.progress import model_version_standing
from ballast.reconcile.serving import DeploymentState, Sibling, plan_serving, serving_enabled
from ballast.reconcile.serving_state import Ready, serving_input
from ballast.reconcile.serving_transitions import wake_no_later_than
from ballast.reconcile.typed import condition_of
from ballast.registry import Verification
from ballast.settings import Settings


def reconcile_model_version(
    body: dict[str, Any],
    verification: Verification,
    now: datetime,
    *,
    siblings: list[Sibling],
    deployment: DeploymentState | None,
    settings: Settings,
    samples: dict[str, Sample] | None = None,
    approved_by: str | None = None,
    service_owners: frozenset[str] | None = None,
    pod_problem: str | None = None,
    start_refusal: StartRefusal | None = None,
    verified_at: datetime | None = None,
) -> Outcome:
    """service_owners: the uids the model's Service names as owners (empty: no Service);
    None when not known, and then the Service is applied only along with the Deployment.
    pod_problem: why one of this version's serving pods cannot start, if one cannot.
    start_refusal: the reason a serving pod's server refused the model at start-up, if one did.
    verified_at: when `verification` read the artifact, if this reconcile did; the next
    verification is due settings.verify_interval_seconds later."""
    generation = body["metadata"]["generation"]
    outcome = Outcome(status={"observedGeneration": generation})
    metadata = verification.metadata
    if metadata.get("metrics"):
        outcome.status["metrics"] = {k: v for k, v in metadata["metrics"].items() if isinstance(v, (int, float))}
    if metadata.get("keyMetric"):
        outcome.status["keyMetric"] = key_metric_for_status(metadata["keyMetric"])

    deployment = deployment or DeploymentState()
    situation = serving_input(
        body,
        verification=verification,
        now=now,
        settings=settings,
        siblings=siblings,
        deployment_ready=deployment.ready_replicas,
        samples=samples,
        approved_by=approved_by,
    )
    decision = plan_serving(situation, outcome)
    if verified_at is not None:
        wake_no_later_than(outcome, verified_at + timedelta(seconds=settings.verify_interval_seconds))
    serves = situation.serving_enabled and decision.stage is not Stage.FAILED
    autoscaling = autoscaling_in_charge(situation.spec, decision.stage) if serves else None
    autoscaler = build_serving_autoscaler(body, autoscaling) if autoscaling else None
    manifest = (
        build_serving_deployment(
            body, replicas=None if autoscaler else decision.replicas, settings=settings, autoscaler=autoscaler
        )
        if serves
        else None
    )
    deployment_changed = (
        manifest is not None and manifest["metadata"]["annotations"][SPEC_HASH_ANNOTATION] != deployment.spec_hash
    )
    if deployment.autoscaled and autoscaler is None and (deployment_changed or manifest is None):
        # before the Deployment takes back its replicas: no autoscaler may scale it up again
        outcome.delete_autoscalers.append(serving_autoscaler_name(situation.name))
    service_lost = (
        manifest is not None and service_owners is not None and body["metadata"].get("uid") not in service_owners
    )
    if deployment_changed or service_lost:
        manager = f"ballast-{situation.name}"
        # each version applies the shared Service as its own field manager, so the owner
        # references of all versions add up instead of replacing one another
        outcome.apply_manifests.append(
            (manager, build_model_service(situation.spec.model, situation.namespace, [body]))
        )
    if autoscaling and autoscaler and deployment_changed:
        if deployment.uid is not None and not deployment.autoscaled:
            # Ballast set the replicas until now: handed over first, or the apply without
            # them would drop the Deployment to one pod (ballast.build.autoscaler)
            replicas = handover_replicas(deployment.replicas, autoscaling)
            outcome.apply_manifests.append((REPLICAS_HANDOVER_MANAGER, build_replicas_handover(body, replicas)))
        outcome.apply_manifests.append(("ballast", autoscaler))
    if manifest is not None and deployment_changed:
        # The Deployment last: its spec hash is what says both were applied. An operator
        # killed between the two applies then finds no matching hash and applies both again.
        outcome.apply_manifests.append(("ballast", manifest))

    ready = _ready(decision.ready, verification, pod_problem, start_refusal)
    status = body.get("status") or {}
    stamp = rfc3339(now)
    verified_before = condition_of(situation.status, ARTIFACT_VERIFIED)
    was_verified = verified_before.status if verified_before else None
    conditions = set_condition(
        status.get("conditions"),
        type=ARTIFACT_VERIFIED,
        status="True" if verification.ok else "False",
        reason=verification.reason,
        message=verification.message,
        observed_generation=generation,
        now=stamp,
    )
    conditions = set_condition(
        conditions,
        type=ConditionType.READY,
        status=ready.status,
        reason=ready.reason,
        message=ready.message,
        observed_generation=generation,
        now=stamp,
    )
    standing = model_version_standing(
        ready.status,
        ready.reason,
        ready.message,
        verified=verification.ok,
        verification=(verification.reason, verification.message),
    )
    outcome.status["conditions"] = set_progress(conditions, standing, observed_generation=generation, now=stamp)
    if verification.ok and was_verified != "True":
        outcome.event("Normal", Reason.VERIFIED, f"artifact {situation.spec.artifact.sha256[:12]} verified")
    if not verification.ok and was_verified != "False":
        outcome.event("Warning", verification.reason, verification.message)
    return outcome


def autoscaling_in_charge(spec: ModelVersionSpec, stage: Stage) -> AutoscalingSpec | None:
    """An autoscaler sets the replicas of a Production version that asks for one. A canary keeps
    the share of Production's ready pods its traffic step needs (traffic splits by pod count),
    and a version leaving Production is scaled down by Ballast, so neither has one."""
    serving = spec.serving
    if serving is None or serving.autoscaling is None or stage is not Stage.PRODUCTION:
        return None
    return serving.autoscaling


def _ready(
    decided: Ready, verification: Verification, pod_problem: str | None, start_refusal: StartRefusal | None
) -> Ready:
    """Ready as the stage machine decided it, unless the pods or the file say otherwise."""
    if decided.status == "Unknown" and start_refusal:
        # the server refuses these bytes on every restart: waiting on the rollout would wait forever
        message = f"a serving pod refused the model at start-up: {start_refusal.message}"
        return Ready("False", start_refusal.reason, message)
    if decided.reason == Reason.DEPLOYING and pod_problem:
        return Ready(
            "Unknown", POD_CANNOT_START, f"{decided.message}; a serving pod cannot start: {pod_problem}"[:2000]
        )
    if not verification.ok and decided.status == "True":
        # running pods keep the verified copy they loaded; a new pod would refuse the file
        return Ready("False", verification.reason, verification.message)
    return decided


__all__ = ["reconcile_model_version", "serving_enabled"]
