"""A work queue of object keys, as controllers keep one: events add a key, workers take it.

Three properties make reconciles event-driven without losing or doubling work:
- a key waits in the queue at most once, at its earliest due time (ten events in a burst are
  one reconcile, and a wake-up scheduled for later never delays one due now);
- a key is never given to two workers at once: added while a worker has it, it is taken again
  after that worker is done, so the reconcile that follows sees what the event changed;
- a key can be due later (a canary's next analysis, a drift evaluation): it sleeps in a heap,
  and nothing runs for it until then.
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

Key = TypeVar("Key", bound=Hashable)


class WorkQueue(Generic[Key]):
    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        on_taken: Callable[[Key, float], None] | None = None,
    ) -> None:
        """on_taken(key, seconds) hears of every key taken and how long it waited past its due
        time: the queue's share of a reconcile's latency."""
        self._clock = clock
        self._on_taken = on_taken
        self._ready = threading.Condition()
        self._due: dict[Key, float] = {}
        """Every queued key, at its earliest due time (the heap may hold older, stale entries)."""
        self._heap: list[tuple[float, int, Key]] = []
        self._order = itertools.count()  # ties keep insertion order, and keys are never compared
        self._taken: set[Key] = set()
        self._again: dict[Key, float] = {}
        """Keys added while a worker had them: queued when that worker is done."""
        self._closed = False

    def add(self, key: Key, *, after: float = 0.0) -> None:
        """Queue key, due `after` seconds from now; an earlier due time already queued stands."""
        with self._ready:
            due = self._clock() + max(0.0, after)
            if key in self._taken:
                self._again[key] = min(self._again.get(key, math.inf), due)
                return
            self._push(key, due)

    def forget(self, key: Key) -> None:
        """The object is gone: drop the key's queued and pending work."""
        with self._ready:
            self._due.pop(key, None)
            self._again.pop(key, None)

    def take(self) -> Key | None:
        """The next due key, waiting until one is due; None once the queue is closed."""
        taken = self._take()
        if taken is None:
            return None
        key, late = taken
        if self._on_taken is not None:
            self._on_taken(key, late)
        return key

    def _take(self) -> tuple[Key, float] | None:
        with self._ready:
            while not self._closed:
                self._drop_stale()
                if not self._heap:
                    self._ready.wait()
                    continue
                due, _, key = self._heap[0]
                wait = due - self._clock()
                if wait > 0:
                    self._ready.wait(wait)
                    continue
                heapq.heappop(self._heap)
                del self._due[key]
                self._taken.add(key)
                return key, -wait
            return None

    def done(self, key: Key) -> None:
        """The worker that took key is done with it."""
        with self._ready:
            self._taken.discard(key)
            again = self._again.pop(key, None)
            if again is not None:
                self._push(key, again)

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify_all()

    @property
    def closed(self) -> bool:
        with self._ready:
            return self._closed

    def __len__(self) -> int:
        """Keys queued (due now or later), not counting those a worker has."""
        with self._ready:
            return len(self._due)

    def next_due_in(self, key: Key) -> float | None:
        """Seconds until key is due, None when it is not queued."""
        with self._ready:
            due = self._due.get(key, self._again.get(key))
            return None if due is None else due - self._clock()

    def _push(self, key: Key, due: float) -> None:
        if self._due.get(key, math.inf) <= due:
            return
        self._due[key] = due
        heapq.heappush(self._heap, (due, next(self._order), key))
        self._ready.notify()

    def _drop_stale(self) -> None:
        while self._heap and self._due.get(self._heap[0][2]) != self._heap[0][0]:
            heapq.heappop(self._heap)
