"""Serving a ModelVersion: its Deployment's size and its stage among its model's versions.

The first version of a model goes to Production once its pods are ready. With the Immediate
strategy a new version takes over once ready. With Canary, a new version becomes the model's
one Canary (a third waits), takes its share of traffic by replica ratio behind the shared
Service, and after each analysis interval is judged on the window since the step began; it
moves to the next step, is promoted (after approval when autoPromote is false) or is rolled
back. A replaced Production version is Superseded and scaled down after a grace period.
The stage machine itself is the table in ballast.reconcile.serving_transitions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ballast.api.modelversion import RolloutStrategy
from ballast.build.serving import model_service_name
from ballast.reasons.modelversion import SERVING_STAGES, Stage
from ballast.reconcile.outcome import Outcome
from ballast.reconcile.serving_state import (
    DeploymentState,
    ServingInput,
    Sibling,
    StageDecision,
    parse_spec,
    parse_status,
    rollout_of,
    serving_enabled,
)
from ballast.reconcile.serving_transitions import transition_for


def in_transition(spec: Mapping[str, Any], status: Mapping[str, Any]) -> bool:
    """Versions whose serving state can change without an event of their own (a sibling was
    promoted, a grace period ends, pods become ready): these are looked at on a timer."""
    typed_spec, typed_status = parse_spec(spec), parse_status(status)
    stage = typed_status.stage or Stage.CANDIDATE
    if not serving_enabled(typed_spec):
        return stage in SERVING_STAGES
    return stage in (Stage.CANDIDATE, *SERVING_STAGES) or (
        stage is Stage.SUPERSEDED and (typed_status.replicas or 0) > 0
    )


def wants_samples(spec: Mapping[str, Any], status: Mapping[str, Any], siblings: list[Sibling], name: str) -> bool:
    """Counters are scraped only for a canary, or a version about to become one."""
    typed_spec, stage = parse_spec(spec), parse_status(status).stage or Stage.CANDIDATE
    if stage is Stage.CANARY:
        return True
    starting = (
        stage is Stage.CANDIDATE
        and serving_enabled(typed_spec)
        and rollout_of(typed_spec).strategy == RolloutStrategy.CANARY
    )
    return starting and any(s.stage == Stage.PRODUCTION and s.name != name for s in siblings)


def sets_approval(managed_fields_entry: Mapping[str, Any]) -> bool:
    """Whether this entry of metadata.managedFields owns spec.rollout.approved."""
    rollout = ((managed_fields_entry.get("fieldsV1") or {}).get("f:spec") or {}).get("f:rollout") or {}
    return "f:approved" in rollout


def approval_manager(managed_fields: list[dict[str, Any]] | None) -> str | None:
    """Who set spec.rollout.approved: the field manager the API server recorded for it
    (kubectl-patch, kubectl-client-side-apply, argocd-controller, ...)."""
    for entry in reversed(managed_fields or []):
        if sets_approval(entry):
            manager: str | None = entry.get("manager")
            return manager
    return None


def plan_serving(situation: ServingInput, outcome: Outcome) -> StageDecision:
    """The version's next stage by the first transition that applies, with the serving fields
    of its status; what goes with the transition is recorded in `outcome`."""
    decision = transition_for(situation).action(situation, outcome)
    model = situation.spec.model
    outcome.status.update(
        stage=decision.stage.value,
        replicas=decision.replicas,
        readyReplicas=situation.deployment_ready,
        trafficPercent=_traffic_percent(situation.deployment_ready, situation.others),
        endpoint=f"http://{model_service_name(model)}.{situation.namespace}.svc/v2/models/{model}",
    )
    return decision


def _traffic_percent(own_ready: int, others: tuple[Sibling, ...]) -> int:
    """The share of the model's ready serving pods that are this version's: the Service
    spreads requests over all of them."""
    if own_ready == 0:
        return 0
    total = own_ready + sum(s.ready_replicas for s in others)
    return round(100 * own_ready / total)


__all__ = [
    "DeploymentState",
    "Sibling",
    "approval_manager",
    "in_transition",
    "plan_serving",
    "serving_enabled",
    "wants_samples",
]
