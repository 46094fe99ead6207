"""The Engine of a blockwise run on a Dask cluster, through a distributed.Client.

A map is one task per block, anywhere; a chain is one task per block, each depending on the one
before, so the estimator moves from worker to worker while every block is read where its task
runs. Dask pickles tasks and results between the run's own pods (its protocol); nothing that a
user or another tenant wrote is unpickled, and the model leaves the run only as skops.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from distributed import Client, Future

from ballast.training.blockwise.plan import Block

T = TypeVar("T")
S = TypeVar("S")


class DaskEngine:
    def __init__(self, client: Client) -> None:
        self.client = client

    def map(self, function: Callable[[Block], T], blocks: Sequence[Block]) -> list[T]:
        # pure=False: the same function over the same block twice (a new epoch's chain) is new work
        return self.client.gather(self.client.map(function, list(blocks), pure=False))

    def chain(self, function: Callable[[S, Block], S], state: S, blocks: Sequence[Block]) -> S:
        current: S | Future = state
        for block in blocks:
            current = self.client.submit(function, current, block, pure=False)
        return current.result() if isinstance(current, Future) else current
