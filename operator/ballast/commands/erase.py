"""`ballast erase dataset NAME --version SHA256`: delete one dataset version's files from the
store after listing what was built on it (ballast.lifecycle.erasure). A dry run unless applied."""

from __future__ import annotations

from ballast.commands.gc import delete_version
from ballast.lifecycle.erasure import ErasurePlan
from ballast.lifecycle.retention import VersionFiles, stored_versions
from ballast.store import ArtifactStore


def stored_version_of(store: ArtifactStore, plan: ErasurePlan) -> VersionFiles | None:
    found = stored_versions(store.list(plan.directory.key))
    return found[0] if found else None


def erase(store: ArtifactStore, plan: ErasurePlan, audit: ArtifactStore | None = None, namespace: str = "") -> int:
    """Deletes the version's files; the number deleted. Never called for a refused plan. With
    `audit` (the whole store), the Dataset's audit trail records the erasure before the files go."""
    if plan.refusal:
        raise ValueError(plan.refusal)
    stored = stored_version_of(store, plan)
    if stored is None:
        return 0
    if audit is not None:
        _record_erasure(audit, namespace, plan, stored)
    return delete_version(store, stored)


def _record_erasure(audit: ArtifactStore, namespace: str, plan: ErasurePlan, stored: VersionFiles) -> None:
    from datetime import UTC, datetime

    from ballast.audit.deletions import deletion_decision
    from ballast.audit.log import append
    from ballast.conditions import rfc3339
    from ballast.reasons import ERASED

    why = f"erased {len(stored.objects)} files ({stored.size} bytes) on request"
    append(audit, deletion_decision(namespace, plan.directory, ERASED, why, rfc3339(datetime.now(UTC))))


def report(plan: ErasurePlan, stored: VersionFiles | None, *, applied: bool) -> str:
    short = plan.directory.sha256[:12]
    lines = [
        f"dataset {plan.directory.name} version {short}: "
        + (
            f"{len(stored.objects)} files, {stored.size} bytes in the store ({plan.directory.key})"
            if stored
            else "nothing in the store"
        )
    ]
    lines.append(
        f"invalidates {len(plan.runs)} TrainingRuns, {len(plan.model_versions)} ModelVersions, "
        f"{len(plan.firings)} DriftPolicy firings:"
    )
    lines += [f"  TrainingRun {run.name} (model {run.model}): can no longer be reproduced" for run in plan.runs]
    lines += [
        f"  ModelVersion {version.name} (stage {version.stage or '-'}): lineage names erased data"
        for version in plan.model_versions
    ]
    lines += [
        f"  DriftPolicy {firing.policy}: firing at {firing.time} retrained on it (run {firing.training_run})"
        for firing in plan.firings
    ]
    if plan.listed_by_dataset:
        lines.append(
            f"note: Dataset {plan.directory.name}'s status still lists {short} until it leaves the history; "
            "a run pinned to it fails (ArtifactMissing), and the same content ingested again is the same version"
        )
    if plan.refusal:
        lines.append(f"refused: {plan.refusal}")
    elif applied:
        lines.append(f"erased {plan.directory.key}")
    elif stored:
        lines.append("dry run: nothing was deleted; pass --apply to erase")
    return "\n".join(lines)
