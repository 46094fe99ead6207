"""A cap on how many outbound reads one namespace may have in flight at once.

The operator's sync handlers share one thread pool across every namespace. A read that ends at
its deadline still holds a thread until then, so without a cap a tenant with many objects
pointing at a slow server would take every thread and delay everyone else's reconciles. With
it, a namespace holds at most `per_namespace` threads; a read that finds its namespace's slots
taken is skipped and tried again at its next turn.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager


class NamespaceSlots:
    def __init__(self, per_namespace: int) -> None:
        if per_namespace < 1:
            raise ValueError(f"per_namespace must be at least 1, not {per_namespace}")
        self.per_namespace = per_namespace
        self._in_flight: Counter[str] = Counter()
        self._lock = threading.Lock()

    @contextmanager
    def slot(self, namespace: str) -> Iterator[bool]:
        """True, held until the block ends, when the namespace had a free slot; False (nothing
        held) when it had none: the caller does not read this time."""
        with self._lock:
            granted = self._in_flight[namespace] < self.per_namespace
            if granted:
                self._in_flight[namespace] += 1
        try:
            yield granted
        finally:
            if granted:
                with self._lock:
                    self._in_flight[namespace] -= 1
                    if not self._in_flight[namespace]:
                        del self._in_flight[namespace]

    def in_flight(self, namespace: str) -> int:
        with self._lock:
            return self._in_flight[namespace]
