"""Serving a ModelVersion: its Deployment's size and its stage among its model's versions.

What is here: the first version of a model goes to Production once its pods are ready; with
the Immediate strategy a new version takes over once ready and the previous Production is
Superseded, then scaled down after a grace period. Canary analysis is not here yet: a Canary
rollout next to a Production version is reported as not supported rather than half done.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ballast.build.serving import build_serving_deployment, model_service_name
from ballast.conditions import rfc3339
from ballast.reconcile.durations import parse_time
from ballast.settings import Settings

SERVING_STAGES = ("Canary", "Production")


@dataclass(frozen=True)
class Sibling:
    """Another version of the same model, as the index holds it."""

    name: str
    stage: str | None
    promoted_at: str | None
    ready_replicas: int = 0


@dataclass(frozen=True)
class DeploymentState:
    """A serving Deployment as the index holds it."""

    ready_replicas: int = 0
    spec_hash: str | None = None


@dataclass
class ServingPlan:
    status: dict = field(default_factory=dict)
    deployment: dict | None = None
    ready: tuple[str, str, str] = ("Unknown", "Reconciling", "")
    events: list[tuple[str, str, str]] = field(default_factory=list)


def in_transition(spec: dict, status: dict) -> bool:
    """Versions whose serving state can change without an event of their own (a sibling was
    promoted, a grace period ends, pods become ready): these are looked at on a timer."""
    if not serving_enabled(spec):
        return status.get("stage") in SERVING_STAGES
    stage = status.get("stage") or "Candidate"
    return stage in ("Candidate", *SERVING_STAGES) or (stage == "Superseded" and (status.get("replicas") or 0) > 0)


def serving_enabled(spec: dict) -> bool:
    serving = spec.get("serving")
    return bool(serving) and serving.get("enabled", True)


def plan_serving(version: dict, *, verified: bool, verification_reason: str, siblings: list[Sibling],
                 deployment_ready: int, now: datetime, settings: Settings) -> ServingPlan:
    spec, status = version["spec"], version.get("status") or {}
    name, namespace = version["metadata"]["name"], version["metadata"]["namespace"]
    stage = status.get("stage") or "Candidate"
    others = [s for s in siblings if s.name != name]
    wanted = (spec.get("serving") or {}).get("replicas", 1)
    plan = ServingPlan()

    if not serving_enabled(spec):
        replicas = 0
        if stage in SERVING_STAGES:
            stage = _supersede(plan, now, "serving was disabled")
        plan.ready = ("True", "Registered", "serving is not enabled for this version") if verified \
            else ("False", verification_reason, "")
    elif stage == "Superseded":
        superseded = parse_time(status["supersededAt"]) if status.get("supersededAt") else now
        grace_over = (now - superseded).total_seconds() >= settings.superseded_grace_seconds
        replicas = 0 if grace_over else wanted
        plan.ready = ("True", "Superseded", "a newer version is in Production")
    elif not verified and stage not in SERVING_STAGES:
        replicas, stage = 0, "Failed"
        plan.ready = ("False", verification_reason, "the artifact failed verification; it is never served")
    elif stage == "Production":
        replicas = wanted
        newer = [s for s in others if s.stage == "Production" and (s.promoted_at or "") > (status.get("promotedAt") or "")]
        if newer:
            stage = _supersede(plan, now, f"{newer[0].name} was promoted")
            plan.ready = ("True", "Superseded", f"{newer[0].name} is in Production")
        else:
            plan.ready = _serving_readiness(deployment_ready, wanted, "Serving")
    else:  # Candidate, serving enabled, verified
        production = [s for s in others if s.stage == "Production"]
        strategy = (spec.get("rollout") or {}).get("strategy", "Canary")
        if production and strategy == "Canary":
            replicas = 0
            plan.ready = ("False", "CanaryUnsupported",
                          f"{production[0].name} is in Production and canary analysis is not implemented yet; "
                          "set rollout.strategy to Immediate to replace it")
        else:
            replicas = wanted
            if deployment_ready >= wanted > 0:
                stage = "Production"
                plan.status["promotedAt"] = rfc3339(now)
                replaced = f", replacing {production[0].name}" if production else ""
                plan.events.append(("Normal", "Promoted", f"{name} is in Production{replaced}"))
                plan.ready = ("True", "Serving", f"{deployment_ready} of {wanted} replicas ready")
            else:
                plan.ready = ("Unknown", "Deploying", f"{deployment_ready} of {wanted} replicas ready")

    if serving_enabled(spec) and stage != "Failed":
        plan.deployment = build_serving_deployment(version, replicas=replicas, settings=settings)
    plan.status.update(stage=stage, replicas=replicas, readyReplicas=deployment_ready,
                       trafficPercent=_traffic_percent(deployment_ready, others, stage),
                       endpoint=f"http://{model_service_name(spec['model'])}.{namespace}.svc/v2/models/{spec['model']}")
    return plan


def _supersede(plan: ServingPlan, now: datetime, why: str) -> str:
    plan.status["supersededAt"] = rfc3339(now)
    plan.events.append(("Normal", "Superseded", why))
    return "Superseded"


def _serving_readiness(ready: int, wanted: int, reason: str) -> tuple[str, str, str]:
    if ready >= wanted:
        return "True", reason, f"{ready} of {wanted} replicas ready"
    return "False", "ReplicasUnavailable", f"{ready} of {wanted} replicas ready"


def _traffic_percent(own_ready: int, others: list[Sibling], stage: str) -> int:
    """The share of the model's ready serving pods that are this version's: the Service
    spreads requests over all of them."""
    if stage in ("Failed", "RolledBack") or own_ready == 0:
        return 0
    total = own_ready + sum(s.ready_replicas for s in others)
    return round(100 * own_ready / total)
