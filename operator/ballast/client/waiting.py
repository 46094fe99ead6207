"""What wait_for() decides on each sighting of an object: reached, failed for good, or not yet."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ballast.api.objects import BallastObject, ModelVersion
from ballast.conditions import ConditionType
from ballast.reasons.modelversion import Stage

# kstatus' name for a terminal failure (sigs.k8s.io/cli-utils pkg/kstatus): the object will
# not get where it is going without a change to it
STALLED = "Stalled"


@dataclass(frozen=True)
class Target:
    """What to wait for: a condition with a status, and for a ModelVersion optionally a stage."""

    condition: str | None = str(ConditionType.READY)
    status: str = "True"
    stage: Stage | None = None

    def describe(self) -> str:
        parts = [f"{self.condition}={self.status}"] if self.condition else []
        return " and ".join(parts + ([f"stage {self.stage}"] if self.stage else []))

    def reached(self, obj: BallastObject[Any, Any]) -> bool:
        if self.stage is not None and _stage(obj) != self.stage:
            return False
        return self.condition is None or condition_status(obj, self.condition) == self.status


def condition_status(obj: BallastObject[Any, Any], condition: str) -> str | None:
    conditions = getattr(obj.status, "conditions", None) or []
    return next((c.status for c in conditions if c.type == condition), None)


def failure(obj: BallastObject[Any, Any], target: Target) -> str | None:
    """Why obj will not reach target without a change, or None while it still may. Only terminal
    states count: a Ready=False while work is under way is not a failure."""
    conditions = {c.type: c for c in getattr(obj.status, "conditions", None) or []}
    generation, observed = obj.metadata.generation, getattr(obj.status, "observed_generation", None)
    if generation is not None and observed is not None and observed < generation:
        return None  # the status describes an older spec
    for terminal, status in ((STALLED, "True"), (str(ConditionType.SUCCEEDED), "False")):
        found = conditions.get(terminal)
        # waiting for Succeeded=False itself is not failing; waiting for Succeeded=True is
        if found is not None and found.status == status and (terminal, status) != (target.condition, target.status):
            return f"{terminal}={status} ({found.reason}): {found.message}"
    if isinstance(obj, ModelVersion) and target.stage not in (None, Stage.FAILED) and _stage(obj) == Stage.FAILED:
        ready = conditions.get(str(ConditionType.READY))
        return f"stage Failed ({ready.reason}): {ready.message}" if ready else "stage Failed"
    return None


def _stage(obj: BallastObject[Any, Any]) -> Stage | None:
    stage = getattr(obj.status, "stage", None)
    return Stage(stage) if stage else None
