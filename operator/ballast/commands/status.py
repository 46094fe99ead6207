"""`kubectl ballast status`: each model's versions, their stages and the canary's progress, as
Argo Rollouts' `get rollout` shows a rollout."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ballast.api.modelversion import RolloutSpec
from ballast.commands.tables import format_table
from ballast.conditions import ConditionType, find_condition
from ballast.reasons.modelversion import Stage

# The stages a person looks for first: what is being rolled out, what serves, what waits.
_STAGE_ORDER: dict[str, int] = {
    stage: index
    for index, stage in enumerate(
        (Stage.CANARY, Stage.PRODUCTION, Stage.CANDIDATE, Stage.SUPERSEDED, Stage.ROLLED_BACK, Stage.FAILED)
    )
}
_DEFAULT_STEPS = RolloutSpec.model_fields["steps"].default


@dataclass(frozen=True)
class VersionStatus:
    name: str
    stage: str
    traffic_percent: int | None
    ready_replicas: int
    replicas: int
    canary: str | None
    """The canary's progress in words: its step and share, or that it awaits approval."""
    analysis: str | None
    """The last step's verdict."""
    reason: str | None
    """The Ready condition's reason and message."""
    message: str | None
    created: str | None


@dataclass(frozen=True)
class ModelStatus:
    namespace: str
    model: str
    production: str | None
    canary: str | None
    versions: list[VersionStatus]


def canary_progress(version: dict) -> str | None:
    status = version.get("status") or {}
    canary = status.get("canary")
    if status.get("stage") != Stage.CANARY or not canary:
        return None
    rollout = (version.get("spec") or {}).get("rollout") or {}
    steps = rollout.get("steps") or _DEFAULT_STEPS
    if canary.get("passedAllSteps"):
        waiting = "approved, promoting" if rollout.get("approved") else "awaiting approval"
        return f"all {len(steps)} steps passed, {waiting}"
    step = int(canary.get("step", 0))
    share = f" ({steps[step]}%)" if step < len(steps) else ""
    return f"step {step + 1} of {len(steps)}{share}"


def version_status(version: dict) -> VersionStatus:
    status = version.get("status") or {}
    ready = find_condition(status.get("conditions"), ConditionType.READY) or {}
    analysis = status.get("analysis") or {}
    return VersionStatus(
        name=version["metadata"]["name"],
        stage=status.get("stage") or Stage.CANDIDATE.value,
        traffic_percent=status.get("trafficPercent"),
        ready_replicas=int(status.get("readyReplicas") or 0),
        replicas=int(status.get("replicas") or 0),
        canary=canary_progress(version),
        analysis=f"step {int(analysis.get('step', 0)) + 1}: {analysis['verdict']}" if analysis.get("verdict") else None,
        reason=ready.get("reason"),
        message=ready.get("message"),
        created=version["metadata"].get("creationTimestamp"),
    )


def _in_stage_order(versions: list[VersionStatus]) -> list[VersionStatus]:
    """By stage (see _STAGE_ORDER), newest first within one."""
    newest_first = sorted(versions, key=lambda v: v.created or "", reverse=True)
    return sorted(newest_first, key=lambda v: _STAGE_ORDER.get(v.stage, len(_STAGE_ORDER)))


def model_statuses(versions: list[dict], model: str | None = None) -> list[ModelStatus]:
    """One entry per (namespace, model), sorted; MODEL keeps only that model's."""

    def key(version: dict) -> tuple[str, str]:
        return version["metadata"].get("namespace") or "", version["spec"]["model"]

    chosen = sorted((v for v in versions if model in (None, v["spec"]["model"])), key=key)
    models = []
    for (namespace, name), group in itertools.groupby(chosen, key=key):
        rows = _in_stage_order([version_status(v) for v in group])
        models.append(
            ModelStatus(
                namespace=namespace,
                model=name,
                production=next((r.name for r in rows if r.stage == Stage.PRODUCTION), None),
                canary=next((r.name for r in rows if r.stage == Stage.CANARY), None),
                versions=rows,
            )
        )
    return models


def status_table(models: list[ModelStatus], *, all_namespaces: bool) -> str:
    if not models:
        return "no ModelVersions found"
    header = [*(["NAMESPACE"] if all_namespaces else []), "MODEL", "VERSION", "STAGE", "TRAFFIC", "READY", "CANARY"]
    header += ["ANALYSIS", "MESSAGE"]
    rows = [
        [
            *([model.namespace] if all_namespaces else []),
            model.model,
            version.name,
            version.stage,
            "-" if version.traffic_percent is None else f"{version.traffic_percent}%",
            f"{version.ready_replicas}/{version.replicas}",
            version.canary or "-",
            version.analysis or "-",
            (version.message or "-")[:80],
        ]
        for model in models
        for version in model.versions
    ]
    return format_table(header, rows)


def changes(read: Callable[[], str], wait: Callable[[], None]) -> Iterator[str]:
    """Each view `read` gives that differs from the one before (for --watch): the first at once,
    then after each `wait` only when something changed."""
    last = None
    while True:
        view = read()
        if view != last:
            yield view
            last = view
        wait()
