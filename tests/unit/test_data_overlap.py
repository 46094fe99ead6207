"""Overlapped stages keep order, surface errors and leave no thread running."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from ballast.data.overlap import BackgroundLane, read_ahead


def test_read_ahead_yields_every_item_in_order_from_another_thread():
    producers: set[str] = set()

    def items() -> Iterator[int]:
        for item in range(50):
            producers.add(threading.current_thread().name)
            yield item

    assert list(read_ahead(items(), "test-read")) == list(range(50))
    assert producers and threading.current_thread().name not in producers


def test_read_ahead_raises_the_source_error_where_it_happened():
    def items() -> Iterator[int]:
        yield 1
        raise OSError("disk gone")

    seen = []
    with pytest.raises(OSError, match="disk gone"):
        for item in read_ahead(items(), "test-read"):
            seen.append(item)
    assert seen == [1]


def test_a_caller_that_stops_early_closes_the_source_and_its_thread():
    closed = threading.Event()

    def items() -> Iterator[int]:
        try:
            yield from range(1000)
        finally:
            closed.set()

    before = threading.active_count()
    stream = read_ahead(items(), "test-read")
    assert next(stream) == 0
    stream.close()

    assert closed.is_set()
    assert threading.active_count() == before


def test_a_lane_runs_calls_in_order_and_raises_a_failure_at_the_next_step():
    done: list[int] = []
    lane = BackgroundLane("test-lane")
    for item in range(20):
        lane.submit(done.append, item)
    lane.wait()
    assert done == list(range(20))

    def fail() -> None:
        raise ValueError("bad part")

    lane.submit(fail)
    with pytest.raises(ValueError, match="bad part"):
        lane.close()
