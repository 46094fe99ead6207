"""What the served model takes and returns, read once from the artifact's metadata.json.

The signature is the contract of the infer endpoint: the feature names (numeric first, then
categorical, the order `ballast.training.features.feature_frame` uses), the task, and for
classifiers the classes in the order of `predict_proba`'s columns.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ballast.api.common import SHA256_PATTERN
from ballast.training.features import FeatureColumns


@dataclass(frozen=True)
class ModelSignature:
    name: str
    version: str
    sha256: str
    task: str
    """"classification" or "regression"."""
    columns: FeatureColumns
    classes: tuple[Any, ...]
    """Class labels as JSON values (empty for regressors)."""
    dataset_name: str | None
    dataset_sha256: str | None
    snapshot_uri: str | None
    dataset_profile_sha256: str | None = None
    """The sha256 of the dataset version's profile.json when training recorded it (the profile
    sets the drift bins, so it must be the one the model was trained beside); None for models
    trained before it was recorded."""
    dataset_metadata_sha256: str | None = None
    """Likewise for the dataset version's metadata.json (read with the reference snapshot)."""

    @property
    def features(self) -> tuple[str, ...]:
        return self.columns.all

    @property
    def is_classifier(self) -> bool:
        return self.task == "classification"


def signature_from_metadata(metadata: Mapping[str, Any], *, name: str, version: str, sha256: str) -> ModelSignature:
    """The signature in metadata.json (see ballast.training.report.artifact_metadata).

    Raises ValueError naming the first field that is missing or malformed.
    """
    features = metadata.get("features")
    if not isinstance(features, Mapping):
        raise ValueError("metadata.json has no `features` object")
    numeric, categorical = features.get("numeric"), features.get("categorical")
    if not isinstance(numeric, list) or not isinstance(categorical, list) or not (numeric or categorical):
        raise ValueError("metadata.json `features` needs `numeric` and `categorical` lists, not both empty")
    names = [*numeric, *categorical]
    if not all(isinstance(n, str) for n in names) or len(set(names)) != len(names):
        raise ValueError("metadata.json feature names must be distinct strings")
    task = metadata.get("task")
    if task not in ("classification", "regression"):
        raise ValueError(f"metadata.json `task` is {task!r}, not classification or regression")
    classes = metadata.get("classes") or []
    if task == "classification" and len(classes) < 2:
        raise ValueError("metadata.json of a classifier lists fewer than two `classes`")
    dataset = (metadata.get("lineage") or {}).get("dataset") or {}
    reproducibility = metadata.get("reproducibility") or {}
    if not isinstance(reproducibility, Mapping):
        raise ValueError("metadata.json `reproducibility` is not an object")
    return ModelSignature(
        name=name,
        version=version,
        sha256=sha256,
        task=task,
        columns=FeatureColumns(
            numeric=tuple(numeric), categorical=tuple(categorical), target=str(features.get("target") or "")
        ),
        classes=tuple(classes) if task == "classification" else (),
        dataset_name=dataset.get("name"),
        dataset_sha256=dataset.get("sha256"),
        snapshot_uri=dataset.get("snapshotUri"),
        dataset_profile_sha256=_recorded_sha256(reproducibility, "datasetProfileSha256"),
        dataset_metadata_sha256=_recorded_sha256(reproducibility, "datasetMetadataSha256"),
    )


def _recorded_sha256(reproducibility: Mapping[str, Any], field: str) -> str | None:
    """A digest training recorded (ballast.training.run), None when it recorded none. A value that
    is not a sha256 is refused rather than ignored: ignoring it would unpin what it pins."""
    value = reproducibility.get(field)
    if value is None:
        return None
    if not isinstance(value, str) or not re.fullmatch(SHA256_PATTERN, value):
        raise ValueError(f"metadata.json `reproducibility.{field}` is not a lowercase hex sha256")
    return value
