"""What one DriftPolicy reconcile reads: the handler's observation, and the policy, the
Production version and the Dataset parsed once into their typed models."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from ballast.api.dataset import DatasetStatus
from ballast.api.driftpolicy import Baseline, DriftAction, DriftPolicySpec, DriftPolicyStatus, DriftWindow
from ballast.api.modelversion import DatasetVersionRef, ModelSource, ModelVersionStatus
from ballast.build.policy import Refusal
from ballast.build.retrain import retrain_template_refusal
from ballast.conditions import ConditionStatus
from ballast.drift.evaluation import Evaluation
from ballast.reconcile import typed
from ballast.settings import Settings

ConditionValue = tuple[ConditionStatus, str, str]
"""(status, reason, message) of a condition to set."""


@dataclass(frozen=True)
class PolicyRun:
    """A TrainingRun this policy created, as the index sees it."""

    name: str
    created_at: datetime | None
    finished: bool = False
    succeeded: bool = False
    reason: str = ""
    message: str = ""
    model_version: str | None = None
    firing_reason: str = ""


@dataclass(frozen=True)
class DriftObservation:
    body: dict[str, Any]
    now: datetime
    production: dict[str, Any] | None
    """The model's Production ModelVersion (metadata, spec, status), if there is one."""
    evaluation: Evaluation | None = None
    """The current window judged (`evaluate_window`), when an evaluation was due and the counters could be read."""
    window_started_at: datetime | None = None
    window_problem: tuple[str, str] | None = None
    """(reason, message) when the counters could not be read."""
    baseline: Baseline | None = None
    """The production baseline gathered in this reconcile (`driftpolicy_baseline.baseline_step`):
    its progress, or the baseline recorded now; None when nothing was gathered."""
    runs: list[PolicyRun] = field(default_factory=list)
    dataset: dict[str, Any] | None = None
    """The Dataset the retrain template trains on (metadata, spec, status)."""
    stages: dict[str, str] = field(default_factory=dict)
    """The model's ModelVersions by name, with their stage."""
    settings: Settings = field(default_factory=Settings)
    """What the administrator allows a retrain template to run (custom images), and the shortest interval."""


def parse_status(status: Mapping[str, Any] | None) -> DriftPolicyStatus:
    return typed.parse_status(DriftPolicyStatus, status)


def production_name(production: Mapping[str, Any] | None) -> str | None:
    return production["metadata"]["name"] if production else None


def offline_accuracy(production: Mapping[str, Any] | None) -> float | None:
    """The accuracy the Production version trained to, which the accuracy check compares with."""
    metrics = typed.parse_status(ModelVersionStatus, production.get("status") if production else None).metrics
    return metrics.get("accuracy") if metrics else None


def champion_data(production: Mapping[str, Any] | None) -> DatasetVersionRef | None:
    """The Dataset version the Production version was trained on, when it was trained by Ballast."""
    source = production["spec"].get("source") if production else None
    return ModelSource.model_validate(source).dataset if source else None


def newest_valid_version(dataset: Mapping[str, Any] | None) -> str | None:
    """The Dataset's latest version, when it is valid and has a snapshot to train on."""
    if not dataset:
        return None
    status = typed.parse_status(DatasetStatus, dataset.get("status"))
    version = next((v for v in status.versions or [] if v.sha256 == status.latest_version), None)
    return status.latest_version if version and version.valid and version.snapshot_uri else None


@dataclass(frozen=True)
class PolicyInputs:
    """One reconcile's inputs, parsed once."""

    observed: DriftObservation
    spec: DriftPolicySpec
    status: DriftPolicyStatus

    @classmethod
    def parse(cls, observed: DriftObservation) -> PolicyInputs:
        body = observed.body
        return cls(observed, DriftPolicySpec.model_validate(body["spec"]), parse_status(body.get("status")))

    @property
    def now(self) -> datetime:
        return self.observed.now

    @property
    def generation(self) -> int:
        generation: int = self.observed.body["metadata"]["generation"]
        return generation

    @property
    def action(self) -> DriftAction:
        return self.spec.action or DriftAction()

    @property
    def window(self) -> DriftWindow:
        return self.spec.window or DriftWindow()

    @cached_property
    def newest_data(self) -> str | None:
        return newest_valid_version(self.observed.dataset)

    @cached_property
    def champion_data(self) -> DatasetVersionRef | None:
        return champion_data(self.observed.production)

    @property
    def template_refusal(self) -> Refusal | None:
        """Why the retrain template's run may not be created, if it may not: the operator creates
        it itself, so it must not carry an image or command the policy's author could not run."""
        if self.action.type != "retrain":
            return None
        return retrain_template_refusal(self.observed.body, self.observed.settings)
