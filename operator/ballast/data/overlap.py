"""Work of a streaming ingest that overlaps the rest on another core, in bounded memory.

Reading and decoding Parquet (pyarrow), numpy's loops, hashlib on large buffers and writing
Parquet all release the GIL, so a stage moved to its own thread runs beside the others. Each
stage keeps at most one batch in flight, so memory stays a few batches whatever the rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

Item = TypeVar("Item")

_END = object()


class BackgroundLane:
    """Runs submitted calls in order on one thread; at most one is pending while the caller goes on.

    An error of a call is raised by the next `submit`, `wait` or `close`.
    """

    def __init__(self, name: str) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._pending: Future[Any] | None = None

    def submit(self, call: Callable[..., Any], *args: Any) -> None:
        self.wait()
        self._pending = self._thread.submit(call, *args)

    def wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self._thread.shutdown()


def read_ahead(items: Iterator[Item], name: str) -> Iterator[Item]:
    """`items`, each next one produced on a thread while the caller works on the current one."""
    thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
    try:
        upcoming = thread.submit(next, items, _END)
        while (item := upcoming.result()) is not _END:
            upcoming = thread.submit(next, items, _END)
            yield item
    finally:
        # Also when the caller stops early: the item under way is finished before the
        # source is closed, so no thread is left reading a file that is going away.
        thread.shutdown(wait=True)
        close = getattr(items, "close", None)
        if close is not None:
            close()
