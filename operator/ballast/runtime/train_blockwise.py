"""`ballast train` for a run with spec.compute: the DaskJob's runner pod, which drives the run's
Dask cluster (DASK_SCHEDULER_ADDRESS, set by the dask-kubernetes operator) through the blocks of
the pinned, partitioned snapshot, and ends with the same TrainingOutcome a single-pod run has."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from ballast.api.catalog import Task
from ballast.api.dataset import DatasetSchema
from ballast.api.trainingrun import Compute, TrainingRunSpec
from ballast.data.part_reader import PartIndex, PartsNotIndexed, read_rows
from ballast.data.snapshot import pinned_metadata
from ballast.store import ArtifactStore
from ballast.training import DatasetIdentity, TrainingOutcome
from ballast.training.blockwise.orchestrate import Engine, train_blockwise
from ballast.training.blockwise.outcome import blockwise_outcome
from ballast.training.blockwise.plan import Block, block_plan, part_ranges
from ballast.training.blockwise.steps import LabelledBlock, labelled_block
from ballast.training.errors import InvalidTrainingData
from ballast.training.features import FeatureColumns, feature_columns
from ballast.training.preprocessing import needs_scaling
from ballast.training.run import checked_spec

SCHEDULER_ADDRESS_ENV = "DASK_SCHEDULER_ADDRESS"
PART_CACHE = "ballast-parts"
"""The directory under the pod's temporary directory where a worker keeps the parts it verified."""


@cache
def _store(uri: str) -> ArtifactStore:
    """One store per worker process (its credentials come from the worker pod's environment)."""
    return ArtifactStore(uri, environ=os.environ)


def _part_cache() -> str:
    path = os.path.join(tempfile.gettempdir(), PART_CACHE)
    os.makedirs(path, exist_ok=True)
    return path


@dataclass(frozen=True)
class BlockSource:
    """Reads one block where it is called (a worker); plain data, so Dask ships it to workers."""

    store_uri: str
    parts_prefix: str
    index: PartIndex
    schema: DatasetSchema
    columns: FeatureColumns
    task: Task
    seed: int
    test_fraction: float
    sensitive_column: str | None

    def __call__(self, block: Block) -> LabelledBlock:
        ranges = [(r.part, r.start, r.stop) for r in part_ranges(block, self.index.rows)]
        frame = read_rows(_store(self.store_uri), self.parts_prefix, self.index, ranges, self.schema, _part_cache())
        return labelled_block(
            frame, block.start, self.schema, self.columns, self.task,
            seed=self.seed, test_fraction=self.test_fraction, sensitive_column=self.sensitive_column,
        )  # fmt: skip


def _part_index(store: ArtifactStore, dataset: DatasetIdentity) -> PartIndex:
    assert dataset.snapshot_uri is not None
    metadata = pinned_metadata(store, dataset.snapshot_uri, dataset.sha256, dataset.metadata_sha256)
    try:
        return PartIndex.of(metadata)
    except PartsNotIndexed as error:
        raise InvalidTrainingData(
            f"dataset {dataset.name} version {dataset.sha256[:12]} cannot be trained on by blocks: {error}"
        ) from None


def train_by_blocks(
    spec: TrainingRunSpec,
    compute: Compute,
    store_uri: str,
    schema: DatasetSchema,
    dataset: DatasetIdentity,
    engine: Engine,
    *,
    champion: Any | None = None,
    champion_problem: str | None = None,
    environment: Mapping[str, str] | None = None,
) -> TrainingOutcome:
    """The whole blockwise run on `engine`; the spec is checked before any block is read."""
    checked = checked_spec(spec, [column.name for column in schema.columns])
    evaluation, task, metric = checked.evaluation, checked.task, checked.metric
    columns = feature_columns(schema)
    store = _store(store_uri)
    index = _part_index(store, dataset)
    blocks = block_plan(index.rows, compute.block_rows)
    if not blocks:
        raise InvalidTrainingData(f"dataset {dataset.name} version {dataset.sha256[:12]} has no rows")
    gates = evaluation.gates
    source = BlockSource(
        store_uri, store.key(dataset.snapshot_uri or ""), index, schema, columns, task, spec.seed,
        evaluation.test_fraction, gates.fairness.sensitive_feature if gates and gates.fairness else None,
    )  # fmt: skip
    started = time.perf_counter()
    fit = train_blockwise(
        blocks, source, engine, estimator=checked.estimator, columns=columns, task=task,
        scale=needs_scaling(spec.estimator), seed=spec.seed, epochs=compute.epochs, champion=champion,
    )  # fmt: skip
    return blockwise_outcome(
        spec, fit, task=task, metric=metric, columns=columns, dataset=dataset, block_rows=compute.block_rows,
        fit_seconds=time.perf_counter() - started, sample=source(blocks[0]).features,
        champion_problem=champion_problem, environment=environment,
    )  # fmt: skip


class EngineUnavailable(Exception):
    """The run's Dask scheduler cannot be reached (not up yet, or gone): a retry may succeed."""

    reason = "EngineUnavailable"


CONNECT_TIMEOUT_SECONDS = 120
"""How long the runner waits for its scheduler: the DaskJob starts both pods at once."""


def train_on_dask(
    spec: TrainingRunSpec,
    compute: Compute,
    store_uri: str,
    schema: DatasetSchema,
    dataset: DatasetIdentity,
    environ: Mapping[str, str],
    **options: Any,
) -> TrainingOutcome:
    # imported here: a single-pod run never loads Dask
    from distributed import Client

    from ballast.training.blockwise.dask_engine import DaskEngine

    address = environ.get(SCHEDULER_ADDRESS_ENV)
    if not address:
        raise EngineUnavailable(f"${SCHEDULER_ADDRESS_ENV} is not set: this pod is not a DaskJob's runner")
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT_SECONDS)
    except (OSError, TimeoutError) as error:
        raise EngineUnavailable(f"cannot reach the Dask scheduler at {address}: {error}") from None
    with client:
        client.wait_for_workers(compute.workers, timeout=CONNECT_TIMEOUT_SECONDS)
        return train_by_blocks(spec, compute, store_uri, schema, dataset, DaskEngine(client), **options)
