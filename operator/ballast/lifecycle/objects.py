"""The live objects of a namespace, as typed values: what references the store, read once
from the API's dicts so the decisions below never walk dict chains."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ballast.api.annotations import TRAINING_SPEC_ANNOTATION


@dataclass(frozen=True)
class DatasetVersions:
    name: str
    versions: tuple[str, ...]
    """sha256 of every version the status lists, and latestVersion."""
    uris: tuple[str, ...]
    """snapshotUri and profileUri of those versions."""


@dataclass(frozen=True)
class RunRecord:
    name: str
    dataset: str
    dataset_version: str | None
    """Pinned in status once started, else spec.datasetRef.version."""
    snapshot_uri: str | None
    artifact_uri: str | None
    artifact_sha256: str | None
    model: str
    model_version: str | None


@dataclass(frozen=True)
class ModelVersionRecord:
    name: str
    model: str
    artifact_uri: str | None
    artifact_sha256: str | None
    dataset: str | None
    dataset_version: str | None
    training_run: str | None
    stage: str | None


@dataclass(frozen=True)
class FiringRecord:
    policy: str
    time: str
    training_run: str | None
    model_version: str | None


@dataclass(frozen=True)
class LiveObjects:
    datasets: tuple[DatasetVersions, ...] = ()
    runs: tuple[RunRecord, ...] = ()
    model_versions: tuple[ModelVersionRecord, ...] = ()
    firings: tuple[FiringRecord, ...] = ()


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _mapping(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def dataset_versions(body: dict) -> DatasetVersions:
    status = _mapping(body.get("status"))
    entries = [_mapping(entry) for entry in status.get("versions") or []]
    versions = [entry.get("sha256") for entry in entries] + [status.get("latestVersion")]
    uris = [entry.get(field) for entry in entries for field in ("snapshotUri", "profileUri")]
    return DatasetVersions(
        name=body["metadata"]["name"],
        versions=tuple(v for v in map(_text, versions) if v),
        uris=tuple(u for u in map(_text, uris) if u),
    )


def run_record(body: dict) -> RunRecord:
    spec, status = _mapping(body.get("spec")), _mapping(body.get("status"))
    ref, artifact = _mapping(spec.get("datasetRef")), _mapping(status.get("artifact"))
    return RunRecord(
        name=body["metadata"]["name"],
        dataset=str(ref.get("name") or ""),
        dataset_version=_text(status.get("datasetVersion")) or _text(ref.get("version")),
        snapshot_uri=_text(status.get("datasetSnapshotUri")),
        artifact_uri=_text(artifact.get("uri")),
        artifact_sha256=_text(artifact.get("sha256")),
        model=str(spec.get("model") or ""),
        model_version=_text(status.get("modelVersion")),
    )


def model_version_record(body: dict) -> ModelVersionRecord:
    spec, status = _mapping(body.get("spec")), _mapping(body.get("status"))
    artifact, source = _mapping(spec.get("artifact")), _mapping(spec.get("source"))
    dataset = _mapping(source.get("dataset"))
    if not dataset:  # an entry whose source was left out still records its inputs
        recorded = _mapping(body["metadata"].get("annotations")).get(TRAINING_SPEC_ANNOTATION)
        try:
            dataset = _mapping(_mapping(json.loads(recorded)).get("datasetRef")) if recorded else {}
        except ValueError:
            dataset = {}
    return ModelVersionRecord(
        name=body["metadata"]["name"],
        model=str(spec.get("model") or ""),
        artifact_uri=_text(artifact.get("uri")),
        artifact_sha256=_text(artifact.get("sha256")),
        dataset=_text(dataset.get("name")),
        dataset_version=_text(dataset.get("version")),
        training_run=_text(source.get("trainingRun")),
        stage=_text(status.get("stage")),
    )


def firing_records(body: dict) -> tuple[FiringRecord, ...]:
    status = _mapping(body.get("status"))
    return tuple(
        FiringRecord(
            policy=body["metadata"]["name"],
            time=str(firing.get("time") or ""),
            training_run=_text(firing.get("trainingRun")),
            model_version=_text(firing.get("modelVersion")),
        )
        for firing in map(_mapping, status.get("firings") or [])
    )


def live_objects(
    datasets: list[dict], runs: list[dict], model_versions: list[dict], drift_policies: list[dict]
) -> LiveObjects:
    """From the API's lists (CustomObjectsApi items) of one namespace."""
    return LiveObjects(
        datasets=tuple(map(dataset_versions, datasets)),
        runs=tuple(map(run_record, runs)),
        model_versions=tuple(map(model_version_record, model_versions)),
        firings=tuple(f for policy in drift_policies for f in firing_records(policy)),
    )
