"""Outbound reads a namespace may hold at once, and a window too short to query."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import kopf
import pytest

from ballast.controller import HANDLER_THREADS, RECONCILE_WORKERS, configure
from ballast.drift.window_memory import WindowMemory
from ballast.handlers import driftpolicy
from ballast.net.slots import NamespaceSlots


def test_a_namespace_holds_at_most_its_slots_and_others_are_not_affected():
    slots = NamespaceSlots(per_namespace=2)
    with slots.slot("attacker") as first, slots.slot("attacker") as second, slots.slot("attacker") as third:
        assert (first, second, third) == (True, True, False)
        assert slots.in_flight("attacker") == 2
        with slots.slot("victim") as victims:
            assert victims
    assert slots.in_flight("attacker") == 0


def test_a_slot_is_given_back_when_the_read_raises():
    slots = NamespaceSlots(per_namespace=1)
    with pytest.raises(TimeoutError):
        with slots.slot("ns"):
            raise TimeoutError("the read's deadline")
    with slots.slot("ns") as again:
        assert again


def test_slots_hold_under_concurrent_threads():
    slots, inside, most = NamespaceSlots(per_namespace=3), [0], [0]
    lock, barrier = threading.Lock(), threading.Barrier(12)

    def read() -> None:
        barrier.wait()
        with slots.slot("ns") as granted:
            if granted:
                with lock:
                    inside[0] += 1
                    most[0] = max(most[0], inside[0])
                barrier_free = threading.Event()
                barrier_free.wait(0.05)
                with lock:
                    inside[0] -= 1

    threads = [threading.Thread(target=read) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most[0] == 3 and slots.in_flight("ns") == 0


def test_no_slots_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        NamespaceSlots(per_namespace=0)


def test_the_reconcile_workers_have_room_for_several_namespaces_reading():
    settings = kopf.OperatorSettings()
    configure(settings)
    assert settings.execution.max_workers == HANDLER_THREADS
    assert RECONCILE_WORKERS >= 4 * driftpolicy.OUTBOUND_READS.per_namespace


def test_a_window_started_by_another_handler_this_instant_is_not_queried(monkeypatch):
    """The create handler and the timer of one policy can run at the same moment: the second
    sees a window that starts at (or a hair after) its own moment. Querying it raised
    "the window must end after it starts" and failed the handler."""
    moment = datetime(2026, 12, 5, 1, 9, 26, 805040, tzinfo=UTC)
    memo = kopf.Memo()
    memo[driftpolicy.WINDOW_MEMO] = WindowMemory("v1", started_at=moment.replace(microsecond=805231))
    monkeypatch.setattr(
        driftpolicy, "window_from_prometheus", lambda *_, **__: pytest.fail("queried Prometheus for an empty window")
    )
    window, started_at, problem = driftpolicy._window_from_prometheus(
        memo, "http://prometheus:9090", "ns", "model", "v1", moment, None
    )
    assert (window, problem) == (None, None) and started_at == moment.replace(microsecond=805231)
