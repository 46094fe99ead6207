"""Serving a ModelVersion: its Deployment's size and its stage among its model's versions.

The first version of a model goes to Production once its pods are ready. With the Immediate
strategy a new version takes over once ready. With Canary, a new version becomes the model's
one Canary (a third waits), takes its share of traffic by replica ratio behind the shared
Service, and after each analysis interval is judged on the window since the step began; it
moves to the next step, is promoted (after approval when autoPromote is false) or is rolled
back. A replaced Production version is Superseded and scaled down after a grace period.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from ballast.build.serving import build_serving_deployment, model_service_name
from ballast.canary.analysis import Analysis, analyse
from ballast.canary.samples import Sample, window
from ballast.conditions import rfc3339
from ballast.reconcile.durations import parse_duration, parse_time
from ballast.settings import Settings

DEFAULT_STEPS = (10, 50)
# Set (to the time of the request) on an earlier version to bring it back to Production:
# `ballast rollback`, `kubectl annotate` or a commit in Git all do the same.
ROLLBACK_ANNOTATION = "ballast.dev/rollback-requested-at"

SERVING_STAGES = ("Canary", "Production")


@dataclass(frozen=True)
class Sibling:
    """Another version of the same model, as the index holds it."""

    name: str
    stage: str | None
    promoted_at: str | None
    ready_replicas: int = 0
    uid: str | None = None


@dataclass(frozen=True)
class DeploymentState:
    """A serving Deployment as the index holds it."""

    ready_replicas: int = 0
    spec_hash: str | None = None
    uid: str | None = None
    controller_uid: str | None = None
    """The uid of the object that controls it: the ModelVersion, for one Ballast created."""


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


def wants_samples(spec: dict, status: dict, siblings: list[Sibling], name: str) -> bool:
    """Counters are scraped only for a canary, or a version about to become one."""
    if status.get("stage") == "Canary":
        return True
    starting = (
        (status.get("stage") or "Candidate") == "Candidate"
        and serving_enabled(spec)
        and (spec.get("rollout") or {}).get("strategy", "Canary") == "Canary"
    )
    return starting and any(s.stage == "Production" and s.name != name for s in siblings)


def approval_manager(managed_fields: list[dict] | None) -> str | None:
    """Who set spec.rollout.approved: the field manager the API server recorded for it
    (kubectl-patch, kubectl-client-side-apply, argocd-controller, ...)."""
    for entry in reversed(managed_fields or []):
        rollout = ((entry.get("fieldsV1") or {}).get("f:spec") or {}).get("f:rollout") or {}
        if "f:approved" in rollout:
            return entry.get("manager")
    return None


def serving_enabled(spec: dict) -> bool:
    serving = spec.get("serving")
    return bool(serving) and serving.get("enabled", True)


def plan_serving(
    version: dict,
    *,
    verified: bool,
    verification_reason: str,
    siblings: list[Sibling],
    deployment_ready: int,
    now: datetime,
    settings: Settings,
    samples: dict[str, Sample] | None = None,
    approved_by: str | None = None,
) -> ServingPlan:
    """samples: the current counters of this version and of the model's Production version,
    by name, when this version is (or is about to become) the canary."""
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
        plan.ready = (
            ("True", "Registered", "serving is not enabled for this version")
            if verified
            else ("False", verification_reason, "")
        )
    elif stage in ("Superseded", "RolledBack") and _rollback_requested(version) and verified:
        replicas = wanted
        if deployment_ready >= wanted > 0:
            current = next((s.name for s in others if s.stage == "Production"), None)
            stage = "Production"
            plan.status.update(promotedAt=rfc3339(now), supersededAt=None, canary=None, rollbackReason=None)
            plan.events.append(
                (
                    "Normal",
                    "Promoted",
                    f"{name} is in Production again (rollback" + (f" from {current})" if current else ")"),
                )
            )
            plan.ready = ("True", "Serving", "brought back by a rollback request")
        else:
            plan.ready = ("Unknown", "RollingBack", f"{deployment_ready} of {wanted} replicas ready")
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
        newer = [
            s for s in others if s.stage == "Production" and (s.promoted_at or "") > (status.get("promotedAt") or "")
        ]
        if newer:
            stage = _supersede(plan, now, f"{newer[0].name} was promoted")
            plan.ready = ("True", "Superseded", f"{newer[0].name} is in Production")
        else:
            plan.ready = _serving_readiness(deployment_ready, wanted, "Serving")
    elif stage == "Canary":
        stage, replicas = _follow_canary(plan, version, others, samples or {}, now, approved_by)
    elif stage == "RolledBack":
        replicas = 0
        plan.ready = ("False", "RolledBack", status.get("rollbackReason") or "the canary failed its analysis")
    else:  # Candidate, serving enabled, verified
        production = [s for s in others if s.stage == "Production"]
        canaries = [s for s in others if s.stage == "Canary"]
        strategy = (spec.get("rollout") or {}).get("strategy", "Canary")
        if production and strategy == "Canary" and canaries:
            replicas = 0
            plan.ready = ("Unknown", "Queued", f"{canaries[0].name} is the model's canary; this version waits")
        elif production and strategy == "Canary":
            stage, replicas = "Canary", _canary_replicas(production[0], _steps(spec)[0])
            plan.status["canary"] = _step_state(0, now, version, production[0].name, samples or {})
            plan.events.append(
                (
                    "Normal",
                    "CanaryStarted",
                    f"canary at step 1 of {len(_steps(spec))} ({_steps(spec)[0]}%) against {production[0].name}",
                )
            )
            plan.ready = ("Unknown", "Canary", f"step 1 of {len(_steps(spec))}")
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
    plan.status.update(
        stage=stage,
        replicas=replicas,
        readyReplicas=deployment_ready,
        trafficPercent=_traffic_percent(deployment_ready, others),
        endpoint=f"http://{model_service_name(spec['model'])}.{namespace}.svc/v2/models/{spec['model']}",
    )
    return plan


def _rollback_requested(version: dict) -> bool:
    """A rollback request newer than the version's own last change of stage."""
    requested = (version["metadata"].get("annotations") or {}).get(ROLLBACK_ANNOTATION)
    status = version.get("status") or {}
    last_change = max(
        status.get("supersededAt") or "",
        status.get("promotedAt") or "",
        (status.get("analysis") or {}).get("time") or "",
    )
    return bool(requested) and requested > last_change


def _steps(spec: dict) -> tuple[int, ...]:
    return tuple((spec.get("rollout") or {}).get("steps") or DEFAULT_STEPS)


def _canary_replicas(production: Sibling, percent: int) -> int:
    """Replicas that give the canary about `percent` of the traffic next to Production's
    ready replicas, behind one Service; never fewer than one."""
    if percent >= 100:
        return max(1, production.ready_replicas)
    return max(1, math.ceil(production.ready_replicas * percent / (100 - percent)))


def _step_state(step: int, now: datetime, version: dict, production: str, samples: dict[str, Sample]) -> dict:
    name = version["metadata"]["name"]
    return {
        "step": step,
        "stepStartedAt": rfc3339(now),
        "production": production,
        "canaryStart": samples.get(name, Sample()).to_status(),
        "productionStart": samples.get(production, Sample()).to_status(),
    }


def _follow_canary(
    plan: ServingPlan,
    version: dict,
    others: list[Sibling],
    samples: dict[str, Sample],
    now: datetime,
    approved_by: str | None,
) -> tuple[str, int]:
    spec, status = version["spec"], version.get("status") or {}
    name, rollout = version["metadata"]["name"], spec.get("rollout") or {}
    steps, state = _steps(spec), status.get("canary") or {}
    step = min(state.get("step", 0), len(steps) - 1)
    production = next((s for s in others if s.stage == "Production" and s.name == state.get("production")), None)
    if production is None:
        plan.status["promotedAt"] = rfc3339(now)
        plan.events.append(
            ("Normal", "Promoted", f"{name} is in Production (the version it was compared with is gone)")
        )
        plan.ready = ("True", "Serving", "promoted")
        return "Production", (spec.get("serving") or {}).get("replicas", 1)
    replicas = _canary_replicas(production, steps[step])
    if state.get("passedAllSteps"):
        return _await_approval(plan, version, now, approved_by, replicas)
    elapsed = (now - parse_time(state["stepStartedAt"])).total_seconds()
    if elapsed < parse_duration(rollout.get("analysisInterval", "1m")):
        plan.ready = ("Unknown", "Canary", f"step {step + 1} of {len(steps)} ({steps[step]}%)")
        return "Canary", replicas
    analysis = analyse(
        window(samples.get(name, Sample()), Sample.from_status(state.get("canaryStart"))),
        window(samples.get(production.name, Sample()), Sample.from_status(state.get("productionStart"))),
        rollout.get("limits") or {},
    )
    plan.status["analysis"] = _analysis_status(analysis, step, now)
    if analysis.verdict == "Fail":
        plan.status["rollbackReason"] = f"step {step + 1} ({steps[step]}%): {analysis.message}"
        plan.events.append(
            (
                "Warning",
                "RolledBack",
                f"canary failed at step {step + 1}: {analysis.message}; {production.name} keeps serving",
            )
        )
        plan.ready = ("False", "RolledBack", plan.status["rollbackReason"])
        return "RolledBack", 0
    if analysis.verdict == "NotEnoughData":
        plan.ready = ("Unknown", "Canary", f"step {step + 1} of {len(steps)}: {analysis.message}")
        return "Canary", replicas
    if step + 1 < len(steps):
        plan.status["canary"] = _step_state(step + 1, now, version, production.name, samples)
        plan.events.append(
            ("Normal", "CanaryStep", f"step {step + 1} passed ({analysis.message}); now at {steps[step + 1]}%")
        )
        plan.ready = ("Unknown", "Canary", f"step {step + 2} of {len(steps)} ({steps[step + 1]}%)")
        return "Canary", _canary_replicas(production, steps[step + 1])
    plan.status["canary"] = {**state, "passedAllSteps": True}
    plan.events.append(("Normal", "CanaryPassed", f"every step passed ({analysis.message})"))
    return _await_approval(plan, version, now, approved_by, replicas)


def _await_approval(
    plan: ServingPlan, version: dict, now: datetime, approved_by: str | None, replicas: int
) -> tuple[str, int]:
    rollout = version["spec"].get("rollout") or {}
    if rollout.get("autoPromote", True) or rollout.get("approved"):
        if not rollout.get("autoPromote", True):
            plan.status["approval"] = {"by": approved_by or "unknown", "at": rfc3339(now)}
        plan.status["promotedAt"] = rfc3339(now)
        plan.events.append(("Normal", "Promoted", f"{version['metadata']['name']} is in Production"))
        plan.ready = ("True", "Serving", "promoted after every canary step passed")
        return "Production", (version["spec"].get("serving") or {}).get("replicas", 1)
    plan.ready = (
        "Unknown",
        "AwaitingApproval",
        "every canary step passed; set spec.rollout.approved to true to promote",
    )
    return "Canary", replicas


def _analysis_status(analysis: Analysis, step: int, now: datetime) -> dict:
    return {
        "time": rfc3339(now),
        "step": step,
        "verdict": analysis.verdict,
        "message": analysis.message[:2000],
        "checks": [check.to_status() for check in analysis.checks],
    }


def _supersede(plan: ServingPlan, now: datetime, why: str) -> str:
    plan.status["supersededAt"] = rfc3339(now)
    plan.events.append(("Normal", "Superseded", why))
    return "Superseded"


def _serving_readiness(ready: int, wanted: int, reason: str) -> tuple[str, str, str]:
    if ready >= wanted:
        return "True", reason, f"{ready} of {wanted} replicas ready"
    return "False", "ReplicasUnavailable", f"{ready} of {wanted} replicas ready"


def _traffic_percent(own_ready: int, others: list[Sibling]) -> int:
    """The share of the model's ready serving pods that are this version's: the Service
    spreads requests over all of them."""
    if own_ready == 0:
        return 0
    total = own_ready + sum(s.ready_replicas for s in others)
    return round(100 * own_ready / total)
