"""Where a large request is computed: worker threads, and turns that bound how many are held.

A small request is parsed and predicted on the event loop (a thread hop costs more than it);
a large one goes to a worker thread, so the loop keeps answering health probes and other
requests meanwhile. Each large request first takes a turn, so their memory stays bounded; one
that waits longer than the read deadline for a turn is refused as Busy. REST and gRPC share one
Offload, so the server's threads and turns are those the limits say, whichever API asks.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import TypeVar

from ballast.serving.errors import Busy
from ballast.serving.limits import ServingLimits

T = TypeVar("T")


class Offload:
    def __init__(self, limits: ServingLimits) -> None:
        self.limits = limits
        self._executor = ThreadPoolExecutor(max_workers=limits.predict_threads, thread_name_prefix="ballast-predict")
        self._turns = asyncio.Semaphore(limits.max_large_requests)

    def is_small(self, size: int | None) -> bool:
        """Whether a request of `size` bytes (None: unknown yet) is computed on the event loop."""
        return size is not None and size < self.limits.inline_body_bytes

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Held while a large request is read and computed."""
        try:
            async with asyncio.timeout(self.limits.read_timeout_seconds):
                await self._turns.acquire()
        except TimeoutError:
            raise Busy(f"{self.limits.max_large_requests} large requests are under way; retry later") from None
        try:
            yield
        finally:
            self._turns.release()

    async def run(self, work: Callable[[], T]) -> T:
        """`work` in a worker thread (within a turn)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, work)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
