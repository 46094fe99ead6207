"""The annotations on Ballast's objects that the operator writes and the commands read: part of
the API, so they live here (no operator code is needed to read them)."""

from __future__ import annotations

TRAINING_SPEC_ANNOTATION = "ballast.dev/training-spec"
"""On a ModelVersion: the TrainingRun spec it was trained from, as JSON (ballast reproduce)."""
PROFILE_SHA256_ANNOTATION = "ballast.dev/dataset-profile-sha256"
"""On a ModelVersion: the sha256 of the dataset version's profile.json it was trained on."""
METADATA_SHA256_ANNOTATION = "ballast.dev/dataset-metadata-sha256"
"""On a ModelVersion: the sha256 of the dataset version's metadata.json (ballast lineage)."""
ROLLBACK_ANNOTATION = "ballast.dev/rollback-requested-at"
"""On a ModelVersion: when a rollback to it was requested (ballast rollback writes it)."""
APPROVED_BY_ANNOTATION = "ballast.dev/approved-by"
"""On a ModelVersion: the user who approved its promotion (`kubectl ballast approve` writes the
name the API server authenticated it as); the chart's admission policy refuses any other name."""
