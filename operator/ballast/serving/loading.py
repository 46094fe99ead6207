"""Start-up: from an artifact URI and its expected sha256 to a warmed-up ModelService.

The order is the safety argument. The artifact's bytes are verified against the sha256 and
their types against Ballast's trusted list (ballast.models.load_model) before anything is
built from them, and every tree in the built model is checked before it predicts once;
metadata.json must describe that same sha256; the fast predictor is used only
if it agrees bit-for-bit with the pipeline; and one request runs through the whole service
before the caller is told it may listen. Any failure is a StartupFailure with the reason the
pod's termination message reports, and the server never listens.

The dataset's profile.json sets the drift bins, so it is pinned: training records its sha256 in
metadata.json (`reproducibility.datasetProfileSha256`), and a profile whose bytes differ is
refused (DigestMismatch), as is a snapshot or dataset metadata.json that is not the one recorded.
Models trained before the digest was recorded still load, with a warning that their profile is
not pinned: refusing them would stop every older version at its next restart.

The model card (card.md beside the artifact) is read once, verified against the sha256 that
metadata.json records, and served from memory; a card that is missing or altered is not served.

Losing the dataset's profile or snapshot does not stop serving: the feature histograms then
have only their +Inf bucket, or the reference gauges are missing, and a warning says why.

Every read is capped (metadata.json and profile.json by MAX_METADATA_BYTES and
MAX_DATASET_JSON_BYTES, the artifact by the operator's artifacts.maxBytes), so a planted file can
make the server refuse to start, never run it out of memory.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ballast.cards.stored import read_card
from ballast.data import read_snapshot
from ballast.data.errors import InvalidDatasetVersion
from ballast.data.snapshot import read_profile
from ballast.drift.newest import NewestPart
from ballast.models.errors import ModelArtifactError
from ballast.models.skops_format import load_model
from ballast.serving.app import ServerState
from ballast.serving.buckets import FeatureBuckets, feature_buckets, profile_edges
from ballast.serving.distributions import Distributions
from ballast.serving.errors import StartupFailure
from ballast.serving.feedback import FeedbackCounts
from ballast.serving.groups import GroupCounts, group_folding
from ballast.serving.limits import ServingLimits
from ballast.serving.measured import TrainingMeasurements, measurements_from_metadata
from ballast.serving.metrics import DriftCollector, NewestReader, ReferenceCollector, ServingMetrics
from ballast.serving.newest import newest_rows
from ballast.serving.predictor import build_predictor, encoder_categories, probe_batch
from ballast.serving.reference import Reference, reference_from_frame
from ballast.serving.service import ModelService
from ballast.serving.signature import ModelSignature, signature_from_metadata
from ballast.store import METADATA_FILE, ArtifactNotFound, ArtifactStore, StoreError
from ballast.store.errors import DigestMismatch
from ballast.store.limits import DEFAULT_MAX_ARTIFACT_BYTES, MAX_METADATA_BYTES

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelSource:
    artifact_uri: str
    sha256: str
    metadata_uri: str | None = None
    """Defaults to metadata.json beside the artifact."""
    name: str | None = None
    """Defaults to the `model` in metadata.json."""
    version: str | None = None
    """Defaults to the first 12 hex digits of the sha256."""


@dataclass(frozen=True)
class LoadedModel:
    service: ModelService
    metrics: ServingMetrics
    state: ServerState
    reference: Reference | None
    card: bytes | None = None
    """The model card (card.md) as metadata.json pins it; None when there is none to serve."""


def sibling_uri(uri: str, file: str) -> str:
    return uri.rsplit("/", 1)[0] + "/" + file


def _read_artifact(store: ArtifactStore, source: ModelSource, max_bytes: int) -> Any:
    try:
        data = store.read_bytes(source.artifact_uri, max_bytes)
    except StoreError as error:
        raise StartupFailure(error.reason, f"cannot read the model artifact {source.artifact_uri}: {error}") from None
    try:
        return load_model(data, source.sha256)
    except (ModelArtifactError, StoreError) as error:  # DigestMismatch is a StoreError
        raise StartupFailure(error.reason, f"refused the model artifact {source.artifact_uri}: {error}") from None


def _read_metadata(store: ArtifactStore, source: ModelSource) -> dict[str, Any]:
    uri = source.metadata_uri or sibling_uri(source.artifact_uri, METADATA_FILE)
    try:
        metadata = store.read_json(uri, MAX_METADATA_BYTES)
    except ArtifactNotFound as error:
        raise StartupFailure("MetadataMissing", f"the model's metadata.json is missing: {error}") from None
    except StoreError as error:
        raise StartupFailure(error.reason, f"cannot read the model's metadata {uri}: {error}") from None
    except ValueError as error:
        raise StartupFailure("InvalidMetadata", f"{uri} is not JSON: {error}") from None
    recorded = ((metadata.get("artifact") or {}) if isinstance(metadata, dict) else {}).get("sha256")
    if recorded != source.sha256.strip().lower():
        raise StartupFailure(
            "InvalidMetadata", f"{uri} describes artifact sha256 {recorded}, not the served {source.sha256}"
        )
    return metadata


def _signature(metadata: Mapping[str, Any], model: Any, source: ModelSource) -> ModelSignature:
    sha256 = source.sha256.strip().lower()
    try:
        signature = signature_from_metadata(
            metadata,
            name=source.name or str(metadata.get("model") or ""),
            version=source.version or sha256[:12],
            sha256=sha256,
        )
    except ValueError as error:
        raise StartupFailure("InvalidMetadata", str(error)) from None
    if not signature.name:
        raise StartupFailure("InvalidMetadata", "no model name: metadata.json has no `model`; pass --model-name")
    if signature.is_classifier:
        learned = [value.item() if isinstance(value, np.generic) else value for value in getattr(model, "classes_", [])]
        if learned != list(signature.classes) or not hasattr(model, "predict_proba"):
            raise StartupFailure(
                "InvalidMetadata",
                f"metadata.json lists classes {list(signature.classes)}, the model predicts {learned}",
            )
    return signature


def _profile(store: ArtifactStore, signature: ModelSignature) -> dict[str, Any] | None:
    """The training profile, refused (StartupFailure DigestMismatch) unless its bytes are the ones
    training recorded; None, with a warning, when there is none to use."""
    if not signature.dataset_name or not signature.dataset_sha256:
        log.warning("metadata.json names no dataset version: features are counted without bins")
        return None
    expected = signature.dataset_profile_sha256
    if expected is None:
        log.warning(
            "metadata.json records no sha256 for the training profile (a model trained before "
            "it was recorded): its drift bins are used unverified"
        )
    try:
        return read_profile(store, signature.dataset_name, signature.dataset_sha256, expected)
    except DigestMismatch as error:
        raise StartupFailure(error.reason, f"refused the training profile: {error}") from None
    except (StoreError, ValueError) as error:
        log.warning("no training profile (%s): features are counted without bins", error)
        return None


def _card(store: ArtifactStore, source: ModelSource, metadata: Mapping[str, Any]) -> bytes | None:
    """card.md, read once at start-up and served from memory; a missing or altered card is not
    served (404), and does not stop the model from serving."""
    try:
        return read_card(store, source.artifact_uri, metadata)
    except ArtifactNotFound as error:
        log.info("no model card to serve: %s", error)
    except StoreError as error:
        log.warning("the model card is not served (%s): %s", error.reason, error)
    return None


def _reference(
    store: ArtifactStore, signature: ModelSignature, buckets: FeatureBuckets, target_edges: tuple[float, ...]
) -> Reference | None:
    if not signature.snapshot_uri or not signature.dataset_sha256:
        return None
    try:
        return reference_from_frame(
            _snapshot(store, signature), signature.columns, buckets, signature.classes, target_edges
        )
    except DigestMismatch as error:
        # Altered, not lost: the drift gauges would compare against what someone else chose.
        raise StartupFailure(error.reason, f"refused the training snapshot: {error}") from None
    except (StoreError, InvalidDatasetVersion, ValueError, KeyError) as error:
        log.warning(
            "no reference distribution: the training snapshot %s is unusable (%s)", signature.snapshot_uri, error
        )
        return None


def _snapshot(store: ArtifactStore, signature: ModelSignature) -> pd.DataFrame:
    """The training snapshot, refused (DigestMismatch) unless its bytes are the ones training recorded."""
    assert signature.snapshot_uri and signature.dataset_sha256, "only a version that names its snapshot has one"
    return read_snapshot(
        store, signature.snapshot_uri, signature.dataset_sha256, metadata_sha256=signature.dataset_metadata_sha256
    )


def _newest_reader(
    store: ArtifactStore, signature: ModelSignature, buckets: FeatureBuckets, target_edges: tuple[float, ...]
) -> NewestReader | None:
    """Counts a newest part of the snapshot on request: the snapshot is read again (and verified
    again) rather than held in memory for a part that a policy may never ask for."""
    if not signature.snapshot_uri or not signature.dataset_sha256:
        return None

    def read(part: NewestPart) -> Reference:
        try:
            rows = newest_rows(_snapshot(store, signature), part)
        except (StoreError, InvalidDatasetVersion, KeyError) as error:
            raise ValueError(f"the training snapshot is unusable: {error}") from None
        return reference_from_frame(rows, signature.columns, buckets, signature.classes, target_edges)

    return read


def warm_up_document(signature: ModelSignature) -> dict[str, Any]:
    """One all-missing row through the protocol path (the imputers fill it in)."""
    return {
        "inputs": [
            {
                "name": name,
                "shape": [1],
                "datatype": "FP64" if name in signature.columns.numeric else "BYTES",
                "data": [None],
            }
            for name in signature.features
        ]
    }


def _group_counts(
    measured: TrainingMeasurements, buckets: FeatureBuckets, classes: tuple[Any, ...]
) -> GroupCounts | None:
    """Counts by group for a binary classifier whose training measured fairness on one of its inputs."""
    if measured.sensitive_feature is None or measured.positive_class is None:
        return None
    folding = group_folding(buckets, measured.sensitive_feature)
    if folding is None:
        log.warning(
            "the sensitive feature %r is not an input of the model: no counts by group", measured.sensitive_feature
        )
        return None
    return GroupCounts(folding, buckets, classes)


def load_served_model(
    store: ArtifactStore,
    source: ModelSource,
    limits: ServingLimits | None = None,
    *,
    max_artifact_bytes: int = DEFAULT_MAX_ARTIFACT_BYTES,
) -> LoadedModel:
    """`limits` bound the service and the server that runs it (ballast.runtime.serve reads them
    from the service); `max_artifact_bytes` is the operator's artifacts.maxBytes."""
    model = _read_artifact(store, source, max_artifact_bytes)
    metadata = _read_metadata(store, source)
    signature = _signature(metadata, model, source)
    profile = _profile(store, signature)
    columns = signature.columns
    buckets = feature_buckets(columns.numeric, columns.categorical, profile, encoder_categories(model, columns))
    target_edges = () if signature.is_classifier else profile_edges(profile, columns.target)

    probe = probe_batch(
        columns, [tuple(edges) for edges in buckets.numeric.edges], [tuple(c.index) for c in buckets.categorical]
    )
    try:
        predictor = build_predictor(model, columns, signature.is_classifier, probe)
    except Exception as error:  # noqa: BLE001 - a model that cannot predict must not become Ready
        raise StartupFailure(
            "WarmUpFailed", f"the model failed its warm-up prediction: {type(error).__name__}: {error}"
        ) from None
    log.info("serving %s version %s with the %s predictor", signature.name, signature.version, predictor.kind)

    state = ServerState(ready=[False])
    live = Distributions(buckets, signature.classes, target_edges)
    feedback = FeedbackCounts(signature.classes)
    reference = _reference(store, signature, buckets, target_edges)
    measured = measurements_from_metadata(metadata, signature.classes)
    groups = _group_counts(measured, buckets, signature.classes)
    collector = DriftCollector(signature, live, feedback, predictor.kind, state.ready, groups)
    metrics = ServingMetrics(
        signature,
        collector,
        ReferenceCollector(signature, reference, measured, groups),
        _newest_reader(store, signature, buckets, target_edges),
    )
    service = ModelService(
        signature=signature,
        predictor=predictor,
        live=live,
        feedback_counts=feedback,
        limits=limits or ServingLimits(),
        groups=groups,
    )
    try:
        service.infer(warm_up_document(signature), record=False)
        metrics.exposition()
        metrics.reference_exposition()
    except Exception as error:  # noqa: BLE001
        raise StartupFailure("WarmUpFailed", f"the warm-up request failed: {type(error).__name__}: {error}") from None
    return LoadedModel(
        service=service, metrics=metrics, state=state, reference=reference, card=_card(store, source, metadata)
    )
