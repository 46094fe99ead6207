"""One attempt to log a finished TrainingRun: its record, its model card from the store, and
the MLflow client, with every failure turned into the Tracked condition's reason and words."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from ballast.cards.version_card import OUTPUT_KINDS, CardUnavailable, version_card
from ballast.reasons.trainingrun import TrackingReason
from ballast.store import ArtifactStore
from ballast.tracking.mlflow_log import TrackingError, log_tracked_run, mlflow_client
from ballast.tracking.record import tracked_run
from ballast.tracking.state import TrackingAttempt

CARD_NOTE_TAG = "ballast.card"
"""Why the MLflow run has no model card, when it has none although the run made an artifact."""
MAX_MESSAGE = 1000


def attempt_tracking(
    body: dict[str, Any], *, tracking_uri: str, experiment: str | None, store: ArtifactStore
) -> TrackingAttempt:
    tracked = tracked_run(body, experiment)
    card, note = model_card_files(store, body)
    if note:
        tracked = replace(tracked, tags={**tracked.tags, CARD_NOTE_TAG: note})
    try:
        run_id = log_tracked_run(mlflow_client(tracking_uri), tracked, card)
    except TrackingError as error:
        reason = TrackingReason.TRACKING_REFUSED if error.answered else TrackingReason.TRACKING_SERVER_UNREACHABLE
        return TrackingAttempt(reason, f"{tracking_uri}: {error}"[:MAX_MESSAGE], datetime.now(UTC))
    message = f"MLflow run {run_id} in experiment {tracked.experiment} at {tracking_uri}"
    return TrackingAttempt(TrackingReason.LOGGED, message, datetime.now(UTC))


def model_card_files(store: ArtifactStore, body: dict[str, Any]) -> tuple[dict[str, bytes], str | None]:
    """The card's files by kind, verified as `ballast card` verifies them, and why there are
    none when the run made an artifact but its card cannot be read. A run that made no artifact
    (its pod failed) has no card and needs no word about it."""
    status = body.get("status") or {}
    artifact = status.get("artifact")
    if not artifact:
        return {}, None
    # the card lies beside the artifact whether or not the gates passed: read it by the artifact
    version = {
        "metadata": {"name": status.get("modelVersion") or body["metadata"]["name"]},
        "spec": {"artifact": artifact},
    }
    try:
        return {kind: version_card(store, version, kind) for kind in OUTPUT_KINDS}, None
    except CardUnavailable as error:
        return {}, str(error)[:MAX_MESSAGE]
