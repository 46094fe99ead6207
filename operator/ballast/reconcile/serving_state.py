"""What a ModelVersion's serving decision is taken on: the version parsed once into the API's
typed models, its model's other versions and its Deployment as the indexes hold them, the
canary's counters, and the clock."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from ballast.api.annotations import APPROVED_BY_ANNOTATION, ROLLBACK_ANNOTATION
from ballast.api.modelversion import ModelVersionSpec, ModelVersionStatus, RolloutSpec, ServingSpec
from ballast.canary.analysis import Analysis, analyse
from ballast.canary.samples import Sample, window
from ballast.conditions import ConditionStatus
from ballast.reasons.modelversion import Stage
from ballast.reconcile import typed
from ballast.reconcile.durations import parse_duration, parse_time
from ballast.registry import Verification
from ballast.settings import Settings


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
    replicas: int = 0
    """The pods it runs now (status.replicas: the index never sees the spec)."""
    autoscaled: bool = False
    """Applied with an autoscaler in charge of its replicas (ballast.build.autoscaler)."""
    uid: str | None = None
    controller_uid: str | None = None
    """The uid of the object that controls it: the ModelVersion, for one Ballast created."""


@dataclass(frozen=True)
class Ready:
    """The Ready condition a serving decision comes to."""

    status: ConditionStatus
    reason: str
    message: str


@dataclass(frozen=True)
class StageDecision:
    """Where a transition leaves the version: its stage, the replicas it wants, its readiness."""

    stage: Stage
    replicas: int
    ready: Ready


def parse_spec(spec: Mapping[str, Any]) -> ModelVersionSpec:
    return ModelVersionSpec.model_validate(dict(spec))


def parse_status(status: Mapping[str, Any] | None) -> ModelVersionStatus:
    return typed.parse_status(ModelVersionStatus, status)


def serving_enabled(spec: ModelVersionSpec) -> bool:
    return spec.serving is not None and spec.serving.enabled


def rollout_of(spec: ModelVersionSpec) -> RolloutSpec:
    """The rollout as written, or the model's defaults where none is."""
    return spec.rollout or RolloutSpec()


def requested_rollback(annotations: Mapping[str, Any] | None) -> datetime | None:
    """When a rollback to this version was requested; None when never, or not as a time."""
    text = (annotations or {}).get(ROLLBACK_ANNOTATION)
    try:
        return parse_time(text) if text else None
    except ValueError:
        return None


@dataclass(frozen=True)
class ServingInput:
    """One ModelVersion's serving situation."""

    name: str
    namespace: str
    spec: ModelVersionSpec
    status: ModelVersionStatus
    verification: Verification
    now: datetime
    settings: Settings
    others: tuple[Sibling, ...] = ()
    """The model's other versions (never this one)."""
    deployment_ready: int = 0
    rollback_requested_at: datetime | None = None
    samples: Mapping[str, Sample] = field(default_factory=dict)
    """The current counters of this version and of the model's Production version, by name,
    when this version is (or is about to become) the canary."""
    approved_by: str | None = None
    """The field manager that set spec.rollout.approved."""
    approved_user: str | None = None
    """The user the annotation ballast.dev/approved-by names, if it is set."""

    @property
    def stage(self) -> Stage:
        return self.status.stage or Stage.CANDIDATE

    @property
    def serving_enabled(self) -> bool:
        return serving_enabled(self.spec)

    @property
    def verified(self) -> bool:
        return self.verification.ok

    @property
    def rollout(self) -> RolloutSpec:
        return rollout_of(self.spec)

    @property
    def wanted(self) -> int:
        """The replicas the version asks for while it serves; with an autoscaler, the fewest it
        keeps (readiness counts against them, and a version leaving Production keeps them
        through its grace period)."""
        serving = self.spec.serving or ServingSpec()
        return serving.autoscaling.min_replicas if serving.autoscaling else serving.replicas

    @property
    def steps(self) -> tuple[int, ...]:
        return tuple(self.rollout.steps)

    @property
    def production(self) -> tuple[Sibling, ...]:
        return tuple(s for s in self.others if s.stage == Stage.PRODUCTION)

    @property
    def canaries(self) -> tuple[Sibling, ...]:
        return tuple(s for s in self.others if s.stage == Stage.CANARY)

    @property
    def rollback_requested(self) -> bool:
        """A rollback request newer than the version's own last change of stage."""
        if self.rollback_requested_at is None:
            return False
        analysis = self.status.analysis
        changes = [self.status.superseded_at, self.status.promoted_at, analysis.time if analysis else None]
        return all(self.rollback_requested_at > change for change in changes if change is not None)

    @property
    def superseded_grace_ends(self) -> datetime:
        superseded = self.status.superseded_at or self.now
        return superseded + timedelta(seconds=self.settings.superseded_grace_seconds)

    # The canary's current step: only meaningful in stage Canary, where status.canary is set.

    @property
    def step(self) -> int:
        state = self.status.canary
        return min(state.step if state else 0, len(self.steps) - 1)

    @property
    def baseline(self) -> Sibling | None:
        """The Production version the canary is compared with, while it is still in Production."""
        state = self.status.canary
        wanted = state.production if state else None
        return next((s for s in self.production if s.name == wanted), None)

    @property
    def analysis_due_at(self) -> datetime | None:
        state = self.status.canary
        if state is None:
            return None
        return state.step_started_at + timedelta(seconds=parse_duration(self.rollout.analysis_interval))

    @cached_property
    def analysis(self) -> Analysis:
        """The current step judged on the window since it began, against its baseline."""
        state = self.status.canary
        baseline = self.baseline.name if self.baseline else ""
        return analyse(
            window(self.samples.get(self.name, Sample()), Sample.from_status(state.canary_start if state else None)),
            window(self.samples.get(baseline, Sample()), Sample.from_status(state.production_start if state else None)),
            self.rollout.limits.to_wire() if self.rollout.limits else {},
        )


def serving_input(
    version: Mapping[str, Any],
    *,
    verification: Verification,
    now: datetime,
    settings: Settings,
    siblings: list[Sibling] | tuple[Sibling, ...] = (),
    deployment_ready: int = 0,
    samples: Mapping[str, Sample] | None = None,
    approved_by: str | None = None,
) -> ServingInput:
    """A ModelVersion object (as the API server holds it) and what was observed around it."""
    metadata = version["metadata"]
    name = metadata["name"]
    return ServingInput(
        name=name,
        namespace=metadata["namespace"],
        spec=parse_spec(version["spec"]),
        status=parse_status(version.get("status")),
        verification=verification,
        now=now,
        settings=settings,
        others=tuple(s for s in siblings if s.name != name),
        deployment_ready=deployment_ready,
        rollback_requested_at=requested_rollback(metadata.get("annotations")),
        samples=samples or {},
        approved_by=approved_by,
        approved_user=(metadata.get("annotations") or {}).get(APPROVED_BY_ANNOTATION),
    )
