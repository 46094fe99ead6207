"""`ballast lineage <modelversion>`: the chain from the dataset's source to the model artifact.

The source shown is the one the version's metadata.json in the store records: the Dataset's
spec may have named another source since (a new URL, a new file), and its current source says
nothing about where an older version came from. Without the store, the Dataset's current
source is shown, and said to be that."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ballast.api.annotations import METADATA_SHA256_ANNOTATION, TRAINING_SPEC_ANNOTATION
from ballast.api.dataset import DatasetSource, DatasetSpec, describe_source
from ballast.api.trainingrun import TrainingRunSpec

if TYPE_CHECKING:
    from ballast.store import ArtifactStore

_DEFAULT_FORMAT = DatasetSpec.model_fields["format"].default


@dataclass(frozen=True)
class RecordedSource:
    """Where a dataset version's content came from, as its metadata.json records it."""

    source: dict[str, Any]
    """ballast.api.dataset.describe_source's description (kind and where, no credentials)."""
    format: str


def read_recorded_source(store: ArtifactStore, version: dict) -> RecordedSource | str:
    """The source the ModelVersion's dataset version records, or why it could not be read.
    metadata.json is checked against the digest the registry entry recorded, when it did."""
    # the store (fsspec, pyarrow) is the full install's; lineage without --store needs neither
    from ballast.data.snapshot import read_pinned_json
    from ballast.store import METADATA_FILE, StoreError, dataset_version_key

    dataset = version["spec"]["source"]["dataset"]
    pinned = (version["metadata"].get("annotations") or {}).get(METADATA_SHA256_ANNOTATION)
    try:
        metadata = read_pinned_json(
            store, dataset_version_key(dataset["name"], dataset["version"], METADATA_FILE), pinned
        )
    except (StoreError, ValueError) as error:
        return f"the version's metadata.json could not be read: {error}"
    if not isinstance(metadata, dict) or not isinstance(metadata.get("source"), dict):
        return "the version's metadata.json records no source"
    return RecordedSource(source=metadata["source"], format=str(metadata.get("format") or _DEFAULT_FORMAT))


def lineage_lines(
    version: dict, run: dict | None, dataset: dict | None, recorded: RecordedSource | str | None = None
) -> list[str]:
    """recorded: read_recorded_source's answer, None when the store was not given."""
    spec = version["spec"]
    source = spec.get("source") or {}
    recorded_spec = json.loads((version["metadata"].get("annotations") or {}).get(TRAINING_SPEC_ANNOTATION, "{}"))
    training = (run or {}).get("spec") or recorded_spec
    dataset_ref = source.get("dataset") or {}
    lines = []
    if dataset_ref:
        lines.append(f"Dataset {dataset_ref['name']}")
        lines.extend(_source_lines(dataset, recorded))
        entry = next(
            (
                v
                for v in ((dataset or {}).get("status") or {}).get("versions") or []
                if v["sha256"] == dataset_ref["version"]
            ),
            None,
        )
        if entry:
            lines.append(f"  snapshot: {entry.get('snapshotUri', '-')} ({entry['rows']} rows, {entry['createdAt']})")
        lines.append(f"  version:  sha256:{dataset_ref['version']}")
    else:
        lines.append("Dataset: none recorded (an externally trained model)")
    if source.get("trainingRun"):
        lines.append(
            f"TrainingRun {source['trainingRun']}" + ("" if run else " (deleted; inputs from the registry entry)")
        )
        if training:
            lines.append(f"  estimator: {training.get('estimator')}")
            lines.append(f"  params:    {json.dumps(training.get('params') or {}, sort_keys=True)}")
            lines.append(f"  seed:      {training.get('seed', TrainingRunSpec.model_fields['seed'].default)}")
        reproducibility = ((run or {}).get("status") or {}).get("reproducibility") or {}
        if reproducibility:
            packages = ", ".join(f"{k} {v}" for k, v in sorted((reproducibility.get("packages") or {}).items()))
            lines.append(f"  runtime:   Python {reproducibility.get('pythonVersion', '?')}; {packages}")
    lines.append(f"ModelVersion {version['metadata']['name']} (model {spec['model']})")
    lines.append(f"  artifact: {spec['artifact']['uri']}")
    lines.append(f"  sha256:   {spec['artifact']['sha256']}")
    status = version.get("status") or {}
    if status.get("stage"):
        lines.append(f"  stage:    {status['stage']}")
    return lines


def _source_lines(dataset: dict | None, recorded: RecordedSource | str | None) -> list[str]:
    if isinstance(recorded, RecordedSource):
        return [f"  source:   {describe_recorded_source(recorded.source)} ({recorded.format})"]
    why = recorded or "no --store given to read the version's metadata.json"
    if dataset is None:
        return [f"  source:   unknown: {why}"]
    source = DatasetSource.model_validate(dataset["spec"]["source"])
    format = dataset["spec"].get("format") or _DEFAULT_FORMAT
    current = f"{describe_recorded_source(describe_source(source))} ({format})"
    return [f"  source:   {current}: the Dataset's source now, which may not be this version's ({why})"]


def describe_recorded_source(description: dict[str, Any]) -> str:
    """A metadata.json source description (ballast.api.dataset.describe_source) in one line."""
    kind = description.get("kind")
    if kind == "url":
        return str(description.get("url"))
    if kind == "objectStore":
        return str(description.get("uri"))
    if kind == "pvc":
        return f"pvc {description.get('claimName')}:/{description.get('path')}"
    if kind == "inline":
        return f"inline ({description.get('rows')} rows)"
    return json.dumps(description, sort_keys=True)
