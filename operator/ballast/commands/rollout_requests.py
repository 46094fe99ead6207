"""`approve`, `promote` and `abort`: what a person asks of a ModelVersion's rollout, written as
the one field the API gives them for it, and nothing else of the spec (a GitOps repository
that owns the rest sees exactly the user's change).

- approve: spec.rollout.approved = true, and the annotation ballast.dev/approved-by naming the
  user the API server authenticated the request as (the chart's admission policy refuses any
  other name); with autoPromote false, the canary is promoted once every step passed (at once
  when they already have).
- promote: the route to Production the version's stage allows: approval for a canary that
  passed every step, the rollback request (ballast.dev/rollback-requested-at) for a version
  that served before. The API has no field to skip a canary's analysis, so neither does this.
- abort: spec.serving.enabled = false on a canary (or a version waiting to become one): its pods
  go, Production keeps all the traffic, and the version stays registered. Serving it again is
  a new decision (enable serving, or `promote` it).
"""

from __future__ import annotations

from dataclasses import dataclass

from ballast.api.annotations import APPROVED_BY_ANNOTATION
from ballast.api.modelversion import RolloutSpec
from ballast.commands.rollback import rollback_patch
from ballast.reasons.modelversion import Stage

_AUTO_PROMOTE_DEFAULT = RolloutSpec.model_fields["auto_promote"].default


class Refused(Exception):
    """The version's stage or spec leaves nothing for the request to do."""


@dataclass(frozen=True)
class Request:
    patch: dict | None
    """The merge patch to send; None when the version already is as asked."""
    message: str


def _name_and_stage(version: dict) -> tuple[str, Stage]:
    return version["metadata"]["name"], Stage((version.get("status") or {}).get("stage") or Stage.CANDIDATE)


def _rollout(version: dict) -> dict:
    return (version.get("spec") or {}).get("rollout") or {}


def _passed_all_steps(version: dict) -> bool:
    return bool(((version.get("status") or {}).get("canary") or {}).get("passedAllSteps"))


def approval_patch(approver: str) -> dict:
    """spec.rollout.approved, with the user who approved: the two written in one request, so
    the admission policy checks the name against the request that approves."""
    return {"metadata": {"annotations": {APPROVED_BY_ANNOTATION: approver}}, "spec": {"rollout": {"approved": True}}}


def approve(version: dict, approver: str) -> Request:
    name, stage = _name_and_stage(version)
    rollout = _rollout(version)
    if stage not in (Stage.CANDIDATE, Stage.CANARY):
        raise Refused(f"{name} is {stage}: only a Candidate or a Canary can be approved")
    if rollout.get("autoPromote", _AUTO_PROMOTE_DEFAULT):
        raise Refused(f"{name} promotes by itself (spec.rollout.autoPromote is true): there is nothing to approve")
    if rollout.get("approved"):
        return Request(None, f"{name} is already approved")
    when = "now" if _passed_all_steps(version) else "once every canary step passed"
    return Request(approval_patch(approver), f"approved {name}: it is promoted {when}")


def promote(version: dict, requested_at: str, approver: str) -> Request:
    name, stage = _name_and_stage(version)
    if stage is Stage.PRODUCTION:
        return Request(None, f"{name} is already in Production")
    if stage in (Stage.SUPERSEDED, Stage.ROLLED_BACK):
        return Request(rollback_patch(requested_at), f"requested {name} back in Production (a rollback to it)")
    if stage is Stage.CANARY and _passed_all_steps(version):
        if _rollout(version).get("approved"):
            return Request(None, f"{name} is already approved; the operator is promoting it")
        return Request(approval_patch(approver), f"approved {name}: it is promoted now")
    if stage is Stage.CANARY:
        raise Refused(
            f"{name} is a canary still in analysis: Ballast promotes a canary only after every step passed "
            "(`approve` it to promote it as soon as they have)"
        )
    raise Refused(f"{name} is {stage}: it becomes a canary or Production by itself once it serves")


def abort(version: dict) -> Request:
    name, stage = _name_and_stage(version)
    serving = (version.get("spec") or {}).get("serving") or {}
    if stage not in (Stage.CANDIDATE, Stage.CANARY):
        raise Refused(f"{name} is {stage}: abort stops a canary (to replace Production, `rollback` to another)")
    if not serving or serving.get("enabled") is False:
        return Request(None, f"{name} is not served: nothing to abort")
    return Request(
        {"spec": {"serving": {"enabled": False}}},
        f"aborted {name}: serving disabled, its pods go and Production keeps the traffic",
    )
