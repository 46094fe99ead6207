"""`ballast train`: what the training Job's pod runs.

    ballast train --run-json /etc/ballast/run.json --store file:///var/lib/ballast \\
                  [--termination-log /dev/termination-log]

Flags (each falls back to an environment variable):
  --run-json PATH         BALLAST_RUN_JSON         a file holding the run's inputs, below
                          BALLAST_RUN_INPUTS       the same JSON as text (how the operator's Job passes it)
  --store URI             BALLAST_STORE_URI        the artifact store root (default file:///var/lib/ballast)
  --termination-log PATH  BALLAST_TERMINATION_LOG  where the result goes (default /dev/termination-log)
Also read: BALLAST_IMAGE, BALLAST_IMAGE_DIGEST, BALLAST_CODE_VERSION (reproducibility record),
and the store's credentials (AWS_* for s3://).

run.json (camelCase, written by the operator):
  {"trainingRun": {"namespace": "ml", "name": "iris-7", "uid": "..."},        optional, lineage
   "spec": {...TrainingRun spec...},
   "dataset": {"name": "iris", "sha256": "<64 hex>", "snapshotUri": "file:///.../data.parquet",
               "schema": {...Dataset spec.schema...}},
   "champion": {"modelVersion": "iris-1a2b", "uri": "file:///.../model.skops", "sha256": "<64 hex>"},  optional
   "card": {"intendedUse": "...", "limitations": "..."}}      optional, the run's annotations (ballast.cards)

Writes models/<model>/<sha256>/model.skops, the model card (card.md, card.json) and
metadata.json, which records the card's sha256 (write-once: the same model trained again is a
no-op, and the first card and metadata.json of an artifact are kept), then the
result as JSON of at most 4096 bytes to the termination log (and to stdout):
  {"artifact": {"uri", "sha256", "format"}, "metadataUri", "metrics", "keyMetric": {"name", "value"},
   "gates": [{"name", "passed", "message"}], "passed", "params", "reproducibility",
   "reason"?, "message"?, "truncated"?}
or, when no model was produced, {"passed": false, "reason", "message"}.

Exit codes: 0 training finished (gates passed, or reason GateFailed); 2 the spec is wrong
(InvalidEstimator, InvalidEvaluation, InvalidInput); 3 the data is wrong or unreadable
(InvalidData); 1 anything else (TrainingFailed). 2 and 3 will fail again on retry.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import Field, ValidationError

from ballast.api.common import ApiModel, ResourceName, Sha256, Uri
from ballast.api.dataset import DatasetSchema
from ballast.api.trainingrun import TrainingRunSpec
from ballast.cards.annotations import MAX_NOTE_CHARACTERS
from ballast.cards.content import model_card
from ballast.cards.stored import write_card
from ballast.data import InvalidDatasetVersion, read_snapshot
from ballast.data.profile import profile_summary
from ballast.data.snapshot import read_profile
from ballast.models.errors import ModelArtifactError
from ballast.models.skops_format import MODEL_FILE_NAME, load_model
from ballast.runtime.train_blockwise import EngineUnavailable, train_on_dask
from ballast.store import METADATA_FILE, ArtifactConflict, ArtifactStore, StoreError, model_version_key
from ballast.store.limits import DEFAULT_MAX_ARTIFACT_BYTES
from ballast.training import DatasetIdentity, TrainingInputError, TrainingOutcome, train_model
from ballast.training.report import artifact_metadata, failure_result, fit_termination_message, training_result

RUN_JSON_ENV = "BALLAST_RUN_JSON"
RUN_INPUTS_ENV = "BALLAST_RUN_INPUTS"
STORE_ENV = "BALLAST_STORE_URI"
TERMINATION_LOG_ENV = "BALLAST_TERMINATION_LOG"
DEFAULT_STORE = "file:///var/lib/ballast"
DEFAULT_TERMINATION_LOG = "/dev/termination-log"

EXIT_FINISHED = 0
EXIT_FAILED = 1
EXIT_INVALID_SPEC = 2
EXIT_INVALID_DATA = 3


class TrainingRunIdentity(ApiModel):
    namespace: str | None = Field(default=None, max_length=63)
    name: str | None = Field(default=None, max_length=253)
    uid: str | None = Field(default=None, max_length=64)


class DatasetInput(ApiModel):
    name: ResourceName
    sha256: Sha256
    snapshot_uri: Uri
    schema_: DatasetSchema = Field(alias="schema")
    profile_sha256: Sha256 | None = None
    """profile.json's sha256 as the operator recorded it, carried into the model's record."""
    metadata_sha256: Sha256 | None = None
    """metadata.json's sha256 as the operator recorded it: other bytes are refused."""


class ChampionInput(ApiModel):
    model_version: str | None = Field(default=None, max_length=253)
    uri: Uri
    sha256: Sha256


class CardNotesInput(ApiModel):
    """What the model card quotes from the run's annotations (ballast.cards.annotations)."""

    intended_use: str | None = Field(default=None, max_length=MAX_NOTE_CHARACTERS)
    limitations: str | None = Field(default=None, max_length=MAX_NOTE_CHARACTERS)


class TrainInputs(ApiModel):
    training_run: TrainingRunIdentity | None = None
    spec: TrainingRunSpec
    dataset: DatasetInput
    champion: ChampionInput | None = None
    card: CardNotesInput | None = None


class InvalidInput(TrainingInputError):
    reason = "InvalidInput"


class DataUnavailable(TrainingInputError):
    reason = "InvalidData"


@dataclass(frozen=True)
class TrainOptions:
    run_json: Path | None
    store_uri: str
    termination_log: Path


def parse_train_args(argv: Sequence[str], environ: Mapping[str, str]) -> TrainOptions:
    parser = argparse.ArgumentParser(prog="ballast train", description="Train one TrainingRun (in its Job's pod).")
    parser.add_argument(
        "--run-json", default=environ.get(RUN_JSON_ENV), help=f"the run's inputs as JSON (${RUN_JSON_ENV})"
    )
    parser.add_argument(
        "--store",
        default=environ.get(STORE_ENV) or DEFAULT_STORE,
        help=f"artifact store root URI (${STORE_ENV}, default {DEFAULT_STORE})",
    )
    parser.add_argument(
        "--termination-log",
        default=environ.get(TERMINATION_LOG_ENV) or DEFAULT_TERMINATION_LOG,
        help=f"where the result JSON goes (${TERMINATION_LOG_ENV}, default {DEFAULT_TERMINATION_LOG})",
    )
    args = parser.parse_args(list(argv))
    if not args.run_json and not environ.get(RUN_INPUTS_ENV):
        parser.error(f"--run-json (or ${RUN_JSON_ENV} or ${RUN_INPUTS_ENV}) is required")
    return TrainOptions(
        run_json=Path(args.run_json) if args.run_json else None,
        store_uri=args.store,
        termination_log=Path(args.termination_log),
    )


def read_inputs(path: Path | None, environ: Mapping[str, str] | None = None) -> TrainInputs:
    """The run's inputs from the file at path, else from $BALLAST_RUN_INPUTS."""
    where = str(path) if path else f"${RUN_INPUTS_ENV}"
    try:
        text = path.read_bytes() if path else (environ or os.environ)[RUN_INPUTS_ENV]
        return TrainInputs.model_validate_json(text)
    except (OSError, KeyError) as error:
        raise InvalidInput(f"cannot read the run's inputs {where}: {error}") from None
    except ValidationError as error:
        problems = tuple(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise InvalidInput(f"invalid run inputs in {where}: " + "; ".join(problems), problems) from None


def _unusable(dataset: DatasetInput, error: StoreError | InvalidDatasetVersion) -> DataUnavailable:
    return DataUnavailable(
        f"dataset {dataset.name} version {dataset.sha256[:12]} is unusable ({error.reason}): {error}"
    )


def _train_on_dask(
    options: TrainOptions, inputs: TrainInputs, environ: Mapping[str, str], **champion: Any
) -> TrainingOutcome:
    assert inputs.spec.compute is not None
    try:
        return train_on_dask(
            inputs.spec,
            inputs.spec.compute,
            options.store_uri,
            inputs.dataset.schema_,
            _dataset_identity(inputs.dataset),
            environ,
            environment=environ,
            **champion,
        )
    except (StoreError, InvalidDatasetVersion) as error:  # the blocks' reads, as read_dataset's
        raise _unusable(inputs.dataset, error) from None


def read_dataset(store: ArtifactStore, dataset: DatasetInput) -> pd.DataFrame:
    """The snapshot's rows, after ballast.data checked the content's sha256 against the pinned one."""
    try:
        return read_snapshot(
            store, dataset.snapshot_uri, dataset.sha256, dataset.schema_, metadata_sha256=dataset.metadata_sha256
        )
    except (StoreError, InvalidDatasetVersion) as error:
        raise _unusable(dataset, error) from None


def load_champion(store: ArtifactStore, champion: ChampionInput | None) -> tuple[Any | None, str | None]:
    """The champion model, or why it cannot be evaluated (which fails only mustBeatChampion)."""
    if champion is None:
        return None, None
    try:
        return load_model(store.read_bytes(champion.uri, DEFAULT_MAX_ARTIFACT_BYTES), champion.sha256), None
    except (StoreError, ModelArtifactError) as error:
        return None, f"{error.reason}: {error}"


def read_profile_summary(store: ArtifactStore, dataset: DatasetInput) -> dict[str, Any] | None:
    """The dataset version's profile in brief, for the model card; None (the card says "not
    recorded") when it cannot be read: the card must not cost a run that trained."""
    try:
        return profile_summary(read_profile(store, dataset.name, dataset.sha256, dataset.profile_sha256))
    except (StoreError, ValueError, AttributeError) as error:
        print(f"ballast train: no profile summary for the model card: {error}", file=sys.stderr)
        return None


def write_artifact(store: ArtifactStore, inputs: TrainInputs, outcome: TrainingOutcome) -> tuple[str, str]:
    """Writes model.skops, the model card and metadata.json once; returns the artifact's and
    metadata's URIs. The card is built from the metadata document and written first, so that
    metadata.json can record its sha256."""
    model, sha256 = inputs.spec.model, outcome.artifact.sha256
    artifact_key = model_version_key(model, sha256, MODEL_FILE_NAME)
    artifact_uri = store.write_bytes_once(artifact_key, outcome.artifact.data)
    metadata_key = model_version_key(model, sha256, METADATA_FILE)
    notes = inputs.card or CardNotesInput()
    document = artifact_metadata(
        outcome,
        model=model,
        artifact_uri=artifact_uri,
        dataset=_dataset_identity(inputs.dataset),
        training_run=inputs.training_run.to_wire() if inputs.training_run else None,
        champion=inputs.champion.to_wire() if inputs.champion else None,
        dataset_profile=read_profile_summary(store, inputs.dataset),
        intended_use=notes.intended_use,
        limitations=notes.limitations,
    )
    document["card"] = write_card(store, artifact_key, model_card(document))
    try:
        metadata_uri = store.write_json_once(metadata_key, document)
    except ArtifactConflict:
        # The same bytes were trained before (a reproduction): that first record stays, as
        # write-once promises; this run's own figures are in its termination message.
        metadata_uri = store.uri_of(metadata_key)
    return artifact_uri, metadata_uri


def _dataset_identity(dataset: DatasetInput) -> DatasetIdentity:
    return DatasetIdentity(
        name=dataset.name,
        sha256=dataset.sha256,
        snapshot_uri=dataset.snapshot_uri,
        profile_sha256=dataset.profile_sha256,
        metadata_sha256=dataset.metadata_sha256,
    )


def train_and_report(options: TrainOptions, environ: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
    """Runs the whole training and returns the exit code and the result document."""
    try:
        inputs = read_inputs(options.run_json, environ)
        store = ArtifactStore(options.store_uri, environ=environ)
        champion, champion_problem = load_champion(store, inputs.champion)
        if inputs.spec.compute is not None:
            outcome = _train_on_dask(options, inputs, environ, champion=champion, champion_problem=champion_problem)
        else:
            outcome = train_model(
                inputs.spec,
                read_dataset(store, inputs.dataset),
                inputs.dataset.schema_,
                _dataset_identity(inputs.dataset),
                champion=champion,
                champion_problem=champion_problem,
                environment=environ,
            )
        artifact_uri, metadata_uri = write_artifact(store, inputs, outcome)
        return EXIT_FINISHED, training_result(outcome, artifact_uri=artifact_uri, metadata_uri=metadata_uri)
    except TrainingInputError as error:
        code = EXIT_INVALID_DATA if error.reason == "InvalidData" else EXIT_INVALID_SPEC
        return code, failure_result(error.reason, str(error))
    except (StoreError, EngineUnavailable) as error:  # a store or engine that failed: retrying may help
        return EXIT_FAILED, failure_result(error.reason, str(error))
    except Exception as error:  # noqa: BLE001 - whatever broke, the person gets a message, not a bare exit code
        traceback.print_exc()
        return EXIT_FAILED, failure_result("TrainingFailed", f"{type(error).__name__}: {error}")


def write_termination_message(path: Path, message: bytes) -> None:
    try:
        path.write_bytes(message)
    except OSError as error:
        print(f"ballast train: cannot write the termination log {path}: {error}", file=sys.stderr)


def run_train(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> int:
    """`ballast train`: returns the process exit code."""
    environ = os.environ if environ is None else environ
    options = parse_train_args(argv, environ)
    code, result = train_and_report(options, environ)
    message = fit_termination_message(result)
    write_termination_message(options.termination_log, message)
    print(message.decode())
    return code


if __name__ == "__main__":
    raise SystemExit(run_train(sys.argv[1:]))
