"""The four kinds as the API server sees them: names, scope, printer columns and models."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ballast.api.common import ApiModel
from ballast.api.dataset import DatasetSpec, DatasetStatus
from ballast.api.driftpolicy import DriftPolicySpec, DriftPolicyStatus
from ballast.api.modelversion import ModelVersionSpec, ModelVersionStatus
from ballast.api.trainingrun import TrainingRunSpec, TrainingRunStatus
from ballast.conditions import ConditionType

GROUP = "ballast.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
CATEGORY = "ballast"


@dataclass(frozen=True)
class PrinterColumn:
    name: str
    json_path: str
    type: str = "string"
    description: str = ""
    priority: int = 0  # 1: shown only with -o wide

    def to_wire(self) -> dict[str, Any]:
        column: dict[str, Any] = {"name": self.name, "type": self.type, "jsonPath": self.json_path}
        if self.description:
            column["description"] = self.description
        if self.priority:
            column["priority"] = self.priority
        return column


def condition_column(condition: str, field_name: str = "status", name: str | None = None) -> PrinterColumn:
    return PrinterColumn(
        name=name or str(condition),  # a plain str: yaml cannot write an enum member
        json_path=f'.status.conditions[?(@.type=="{condition}")].{field_name}',
        description=f"The {field_name} of the {condition} condition",
    )


READY = condition_column(ConditionType.READY)
REASON = condition_column(ConditionType.READY, "reason", name="Reason")
AGE = PrinterColumn("Age", ".metadata.creationTimestamp", type="date")


@dataclass(frozen=True)
class KindInfo:
    kind: str
    plural: str
    short_names: tuple[str, ...]  # none that a built-in resource uses (ds is DaemonSet's)
    description: str  # what `kubectl explain <kind>` says first
    spec_model: type[ApiModel]
    status_model: type[ApiModel]
    columns: tuple[PrinterColumn, ...] = field(default_factory=tuple)

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{GROUP}"


DATASET = KindInfo(
    kind="Dataset",
    plural="datasets",
    short_names=("dset",),
    description="Dataset: where the data is and what it must look like. The operator ingests it into immutable, "
    "validated, content-addressed versions that TrainingRuns train on.",
    spec_model=DatasetSpec,
    status_model=DatasetStatus,
    columns=(
        READY,
        REASON,
        PrinterColumn("Rows", ".status.latestRows", type="integer", description="Rows in the latest valid version"),
        PrinterColumn("Version", ".status.latestVersion", description="sha256 of the latest valid version", priority=1),
        AGE,
    ),
)
TRAINING_RUN = KindInfo(
    kind="TrainingRun",
    plural="trainingruns",
    short_names=("tr", "trun"),
    description="TrainingRun: one reproducible training attempt on a Dataset version, and the record of what it "
    "used and produced; a run that passes its gates registers a ModelVersion.",
    spec_model=TrainingRunSpec,
    status_model=TrainingRunStatus,
    columns=(
        PrinterColumn("Model", ".spec.model"),
        PrinterColumn("Dataset", ".spec.datasetRef.name"),
        PrinterColumn("Data-Version", ".status.datasetVersionShort", description="The dataset version trained on"),
        READY,
        REASON,
        PrinterColumn("Metric", ".status.keyMetric.name"),
        PrinterColumn("Value", ".status.keyMetric.value", type="number"),
        PrinterColumn("Dataset-Version", ".status.datasetVersion", priority=1),
        PrinterColumn("ModelVersion", ".status.modelVersion", priority=1),
        AGE,
    ),
)
MODEL_VERSION = KindInfo(
    kind="ModelVersion",
    plural="modelversions",
    short_names=("mv",),
    description="ModelVersion: an immutable registry entry for one trained model and, when served, its canary "
    "rollout to Production.",
    spec_model=ModelVersionSpec,
    status_model=ModelVersionStatus,
    columns=(
        PrinterColumn("Model", ".spec.model"),
        PrinterColumn("Stage", ".status.stage"),
        PrinterColumn(
            "Traffic", ".status.trafficPercent", type="integer", description="Percent of the model's traffic"
        ),
        READY,
        REASON,
        PrinterColumn("Metric", ".status.keyMetric.name"),
        PrinterColumn("Value", ".status.keyMetric.value", type="number"),
        PrinterColumn("Endpoint", ".status.endpoint", priority=1),
        AGE,
    ),
)
DRIFT_POLICY = KindInfo(
    kind="DriftPolicy",
    plural="driftpolicies",
    short_names=("dp",),
    description="DriftPolicy: what behaving well means for one model's serving traffic, and what to do when it "
    "stops (notify, or retrain and roll out the new version).",
    spec_model=DriftPolicySpec,
    status_model=DriftPolicyStatus,
    columns=(
        PrinterColumn("Model", ".spec.model"),
        condition_column(ConditionType.DRIFTING),
        PrinterColumn("Score", ".status.score", type="number", description="Largest feature drift score"),
        PrinterColumn("Verdict", ".status.verdict"),
        PrinterColumn("Retrain", ".status.firings[0].outcome", description="Where the last firing's retraining stands"),
        READY,
        REASON,
        PrinterColumn("Watching", ".status.modelVersion", priority=1),
        PrinterColumn("Last-Eval", ".status.lastEvaluationTime", type="date", priority=1),
        AGE,
    ),
)

ALL_KINDS: tuple[KindInfo, ...] = (DATASET, TRAINING_RUN, MODEL_VERSION, DRIFT_POLICY)
ALL_PLURALS: tuple[str, ...] = tuple(info.plural for info in ALL_KINDS)

_BY_KIND = {info.kind: info for info in ALL_KINDS}
_BY_PLURAL = {info.plural: info for info in ALL_KINDS}


def kind_info(kind: str) -> KindInfo:
    """The KindInfo of a Ballast kind (`Dataset`); KeyError for any other kind."""
    return _BY_KIND[kind]


def plural_of(kind: str) -> str:
    """`Dataset` -> `datasets`: the resource name the API server's paths use."""
    return kind_info(kind).plural


def kind_of(plural: str) -> str:
    """`datasets` -> `Dataset`; KeyError for a plural that is not one of Ballast's."""
    return _BY_PLURAL[plural].kind
