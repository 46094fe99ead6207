"""Erasing one dataset version: what it invalidates, and whether to refuse.

Erasure deletes the version's directory (snapshot, profile, metadata) from the store. What was
built on it stays, and is listed so a person decides about it: the TrainingRuns that trained on
it (they can no longer be reproduced), the ModelVersions they registered (their lineage now
points at data that is gone), and the DriftPolicy firings that started those runs. A version
whose model is in Production is refused unless forced: the model serving traffic would lose
the data it is explained and reproduced by.
"""

from __future__ import annotations

from dataclasses import dataclass

from ballast.lifecycle.objects import FiringRecord, LiveObjects, ModelVersionRecord, RunRecord
from ballast.lifecycle.references import VersionDirectory, dataset_directory

PRODUCTION = "Production"


@dataclass(frozen=True)
class ErasurePlan:
    directory: VersionDirectory
    runs: tuple[RunRecord, ...]
    model_versions: tuple[ModelVersionRecord, ...]
    firings: tuple[FiringRecord, ...]
    listed_by_dataset: bool
    """The Dataset's status still lists the version (until it falls off the history)."""
    refusal: str | None
    """Why it is not erased (without --force), or None."""


def plan_erasure(objects: LiveObjects, dataset: str, sha256: str, *, force: bool = False) -> ErasurePlan:
    directory = dataset_directory(dataset, sha256)
    if directory is None:
        raise ValueError(f"not a dataset version: {dataset!r} {sha256!r} (the version is a lowercase hex sha256)")
    runs = tuple(run for run in objects.runs if run.dataset == dataset and run.dataset_version == sha256)
    run_names = {run.name for run in runs}
    versions = tuple(
        version
        for version in objects.model_versions
        if (version.dataset == dataset and version.dataset_version == sha256)
        or (version.training_run and version.training_run in run_names)
    )
    firings = tuple(firing for firing in objects.firings if firing.training_run in run_names)
    listed = any(d.name == dataset and sha256 in d.versions for d in objects.datasets)
    serving = [version.name for version in versions if version.stage == PRODUCTION]
    refusal = None
    if serving and not force:
        refusal = (
            f"ModelVersion {', '.join(serving)} in Production was trained on dataset {dataset} version "
            f"{sha256[:12]}; promote another version first, or pass --force"
        )
    return ErasurePlan(
        directory=directory,
        runs=runs,
        model_versions=versions,
        firings=firings,
        listed_by_dataset=listed,
        refusal=refusal,
    )
