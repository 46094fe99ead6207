"""Logs a TrackedRun to an MLflow tracking server through MLflow's own client (mlflow-skinny).

Idempotent: the MLflow run is found by the TrainingRun's uid (a tag) before one is created, and
it is marked complete only after everything else is logged, so a retry or a restarted operator
finishes the same MLflow run instead of making a second one. Metrics carry the run's completion
time and step 0, which the server keeps once however often they are logged again; params are
logged with the same values again, which MLflow allows.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, TypeVar

from ballast.tracking.record import CARD_ARTIFACTS, COMPLETE, COMPLETE_TAG, RUN_UID_TAG, TrackedRun

if TYPE_CHECKING:
    from mlflow import MlflowClient

# Ballast sends nothing to MLflow's usage telemetry: the tracking server is the one address the
# client may reach, and only when an administrator named it. Set before mlflow is imported.
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
# The client's own retries (7, doubling, 120 s a request by default) would hold the tracking
# thread for minutes while the server is down; Ballast retries the whole run later instead
# (tracking.retrySeconds). An administrator's own values (operator.extraEnv) win.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")

BATCH = 100
"""MLflow's limit on params and on tags in one log_batch call (MAX_PARAMS_TAGS_PER_BATCH)."""

T = TypeVar("T")


class TrackingError(Exception):
    """The run could not be logged; `answered` tells whether the server said no (an MLflow
    error: credentials, a limit) or did not answer at all (connection, timeout, 5xx)."""

    def __init__(self, message: str, *, answered: bool) -> None:
        super().__init__(message)
        self.answered = answered


def mlflow_client(tracking_uri: str) -> MlflowClient:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri)


def log_tracked_run(client: MlflowClient, tracked: TrackedRun, card: Mapping[str, bytes]) -> str:
    """Logs the run (and the card's files, by kind as in CARD_ARTIFACTS) and returns the MLflow
    run's id. Raises TrackingError whatever went wrong, with the client's own words."""
    from mlflow.exceptions import MlflowException, RestException

    try:
        return _log(client, tracked, card)
    except RestException as error:
        raise TrackingError(str(error), answered=True) from error
    except (MlflowException, OSError) as error:
        raise TrackingError(str(error), answered=False) from error


def _log(client: MlflowClient, tracked: TrackedRun, card: Mapping[str, bytes]) -> str:
    from mlflow.entities import Metric, Param, RunTag

    experiment_id = _experiment_id(client, tracked.experiment)
    existing = client.search_runs(
        [experiment_id], filter_string=f"tags.`{RUN_UID_TAG}` = '{tracked.uid}'", max_results=1
    )
    if existing and existing[0].data.tags.get(COMPLETE_TAG) == COMPLETE:
        return existing[0].info.run_id
    run_id = (
        existing[0].info.run_id
        if existing
        else client.create_run(
            experiment_id, start_time=tracked.start_ms, tags={RUN_UID_TAG: tracked.uid}, run_name=tracked.run_name
        ).info.run_id
    )
    stamp = tracked.end_ms or tracked.start_ms or 0
    metrics = [Metric(key, value, stamp, 0) for key, value in tracked.metrics.items()]
    params = [Param(key, value) for key, value in tracked.params.items()]
    tags = [RunTag(key, value) for key, value in tracked.tags.items()]
    client.log_batch(run_id, metrics=metrics)
    for param_chunk in _chunks(params):
        client.log_batch(run_id, params=param_chunk)
    for tag_chunk in _chunks(tags):
        client.log_batch(run_id, tags=tag_chunk)
    for kind, data in card.items():
        client.log_text(run_id, data.decode(), CARD_ARTIFACTS[kind])
    client.set_terminated(run_id, status=tracked.status, end_time=tracked.end_ms)
    client.set_tag(run_id, COMPLETE_TAG, COMPLETE)
    return run_id


def _experiment_id(client: MlflowClient, name: str) -> str:
    from mlflow.exceptions import RestException

    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    try:
        return client.create_experiment(name)
    except RestException as error:  # another replica or a person created it meanwhile
        if error.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return experiment.experiment_id


def _chunks(items: Sequence[T]) -> list[Sequence[T]]:
    return [items[start : start + BATCH] for start in range(0, len(items), BATCH)]
