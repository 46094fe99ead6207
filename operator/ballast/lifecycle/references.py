"""Which version directories of a namespace's store live objects still reference.

The store's layout (ballast.store.layout) gives every dataset version and every model artifact a
directory, `datasets/<name>/<sha256>` and `models/<model>/<sha256>`, relative to the namespace's
part of the store. A directory is referenced when any of these names it:

- a Dataset's status (every version in its history, and latestVersion);
- a TrainingRun: the version it pinned (status, or spec.datasetRef.version before it starts),
  its snapshot URI, the artifact it produced;
- a ModelVersion: its artifact (URI, and its model and sha256 by the layout) and the dataset
  version it was trained on;
- a DriftPolicy's firing, through the run it started and the version that drifted.

A URI that is not inside the namespace's store cannot name one of its directories; it is kept
in `outside` so a caller can refuse to delete when the store it was given is not the one the
objects were written against.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from ballast.lifecycle.objects import LiveObjects
from ballast.store.errors import StoreError
from ballast.store.keys import StoreRoot, resolve_key
from ballast.store.layout import DATASETS, MODELS, SHA256


@dataclass(frozen=True, order=True)
class VersionDirectory:
    """One version's directory in a namespace's store."""

    kind: str
    """`datasets` or `models`."""
    name: str
    sha256: str

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.name}/{self.sha256}"

    def __str__(self) -> str:
        return self.key


def directory_of_key(key: str) -> VersionDirectory | None:
    """The version directory a key lies in, when it lies in one."""
    parts = key.split("/")
    if len(parts) < 3 or parts[0] not in (DATASETS, MODELS) or not SHA256.match(parts[2]):
        return None
    return VersionDirectory(parts[0], parts[1], parts[2])


def dataset_directory(name: str, sha256: str | None) -> VersionDirectory | None:
    return VersionDirectory(DATASETS, name, sha256) if name and sha256 and SHA256.match(sha256) else None


def model_directory(model: str, sha256: str | None) -> VersionDirectory | None:
    return VersionDirectory(MODELS, model, sha256) if model and sha256 and SHA256.match(sha256) else None


@dataclass(frozen=True)
class ReferenceSet:
    referrers: dict[VersionDirectory, tuple[str, ...]]
    """Each referenced directory, with who references it (`TrainingRun credit-1`)."""
    outside: tuple[str, ...]
    """Recorded URIs that are not inside the namespace's store."""

    def __contains__(self, directory: object) -> bool:
        return directory in self.referrers


def referenced_directories(objects: LiveObjects, namespace_root: StoreRoot) -> ReferenceSet:
    """`namespace_root` is the namespace's part of the store (`<root>/<namespace>`): the root
    the URIs in its objects' status and spec were written against."""
    referrers: dict[VersionDirectory, list[str]] = defaultdict(list)
    outside: list[str] = []

    def add(directory: VersionDirectory | None, who: str) -> None:
        if directory is not None and who not in referrers[directory]:
            referrers[directory].append(who)

    def add_uri(uri: str | None, who: str) -> None:
        if not uri:
            return
        try:
            add(directory_of_key(resolve_key(namespace_root, uri)), who)
        except StoreError:
            outside.append(uri)

    for dataset in objects.datasets:
        who = f"Dataset {dataset.name}"
        for sha256 in dataset.versions:
            add(dataset_directory(dataset.name, sha256), who)
        for uri in dataset.uris:
            add_uri(uri, who)
    runs = {run.name: run for run in objects.runs}
    for run in objects.runs:
        who = f"TrainingRun {run.name}"
        add(dataset_directory(run.dataset, run.dataset_version), who)
        add_uri(run.snapshot_uri, who)
        add(model_directory(run.model, run.artifact_sha256), who)
        add_uri(run.artifact_uri, who)
    versions = {version.name: version for version in objects.model_versions}
    for version in objects.model_versions:
        who = f"ModelVersion {version.name}"
        add(model_directory(version.model, version.artifact_sha256), who)
        add_uri(version.artifact_uri, who)
        add(dataset_directory(version.dataset or "", version.dataset_version), who)
    for firing in objects.firings:
        who = f"DriftPolicy {firing.policy} (firing at {firing.time})"
        run = runs.get(firing.training_run or "")
        if run is not None:
            add(dataset_directory(run.dataset, run.dataset_version), who)
            add(model_directory(run.model, run.artifact_sha256), who)
        version = versions.get(firing.model_version or "")
        if version is not None:
            add(model_directory(version.model, version.artifact_sha256), who)
    return ReferenceSet(referrers={d: tuple(w) for d, w in referrers.items()}, outside=tuple(outside))
