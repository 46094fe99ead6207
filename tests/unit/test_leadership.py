"""Leader election (ballast.leadership): the rules, candidates racing on one Lease with a
resourceVersion precondition, hand-over on release and on expiry, and the operator's life as
standby then leader."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ballast.leadership.config import LeaderElection
from ballast.leadership.election import (
    Elector,
    LeaseRecord,
    LeaseSpec,
    Step,
    Timing,
    claimed,
    next_step,
    seconds_left_to_stop,
)
from ballast.leadership.running import LOST_LEASE_EXIT_CODE, hold, lead_when_elected, stop_on_signals
from ballast.metrics import LEADER

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class MemoryLeaseStore:
    """One Lease, with the API server's optimistic concurrency: a write naming an old
    resourceVersion, or a create of an existing Lease, is refused."""

    def __init__(self):
        self.record: LeaseRecord | None = None
        self._versions = 0
        self.unreachable = False

    def _check(self):
        if self.unreachable:
            raise ConnectionError("API server unreachable")

    def _store(self, spec: LeaseSpec) -> LeaseRecord:
        self._versions += 1
        self.record = LeaseRecord(spec, str(self._versions))
        return self.record

    def read(self):
        self._check()
        return self.record

    def create(self, spec):
        self._check()
        return None if self.record else self._store(spec)

    def replace(self, spec, version):
        self._check()
        return self._store(spec) if self.record and self.record.version == version else None


class Clock:
    def __init__(self):
        self.seconds = 0.0

    def __call__(self) -> float:
        return self.seconds


def _spec(holder: str, lease_seconds: int = 15) -> LeaseRecord:
    return LeaseRecord(LeaseSpec(holder, lease_seconds, T0, T0, 0), "7")


@pytest.mark.parametrize(
    "record, unchanged_for, step",
    [
        (None, 0, Step.CREATE),
        (_spec("a"), 0, Step.RENEW),
        (_spec("a"), 100, Step.RENEW),
        (_spec(""), 0, Step.TAKE),
        (_spec("b"), 14.9, Step.WAIT),
        (_spec("b"), 15, Step.TAKE),
        (_spec("b", lease_seconds=1), 1, Step.TAKE),
    ],
)
def test_next_step(record, unchanged_for, step):
    assert next_step(record, "a", unchanged_for) is step


def test_a_renewal_keeps_the_acquisition_and_a_take_over_counts_a_transition():
    later = datetime(2026, 1, 1, 0, 1, tzinfo=UTC)
    mine = LeaseSpec("a", 15, T0, T0, 2)
    assert claimed(mine, "a", 15, later) == LeaseSpec("a", 15, T0, later, 2)
    assert claimed(mine, "b", 15, later) == LeaseSpec("b", 15, later, later, 3)
    assert claimed(None, "b", 15, later) == LeaseSpec("b", 15, later, later, 0)


def _pair(store: MemoryLeaseStore, clock: Clock) -> tuple[Elector, Elector]:
    return Elector(store, "a", monotonic=clock), Elector(store, "b", monotonic=clock)


def test_one_candidate_leads_and_the_other_waits_while_the_lease_is_renewed():
    store, clock = MemoryLeaseStore(), Clock()
    a, b = _pair(store, clock)
    assert a.try_lead() and not b.try_lead()
    for _ in range(20):  # 40 s of renewals: b never sees the Lease unchanged for 15 s
        clock.seconds += 2
        assert a.try_lead() and not b.try_lead()
    assert store.record.spec.holder == "a" and store.record.spec.transitions == 0


def test_a_dead_leaders_lease_is_taken_after_its_duration_on_the_standbys_own_clock():
    store, clock = MemoryLeaseStore(), Clock()
    a, b = _pair(store, clock)
    assert a.try_lead()
    # the leader's wall clock is far off: only how long b has seen the Lease unchanged counts
    store.record = LeaseRecord(LeaseSpec("a", 15, T0, datetime(2099, 1, 1, tzinfo=UTC), 0), store.record.version)
    assert not b.try_lead()
    clock.seconds += 14
    assert not b.try_lead()
    clock.seconds += 1
    assert b.try_lead()
    assert store.record.spec.holder == "b" and store.record.spec.transitions == 1
    assert not a.try_lead() and a.holder == "b"  # the old leader, back, sees it lost


def test_a_released_lease_is_taken_at_once():
    store, clock = MemoryLeaseStore(), Clock()
    a, b = _pair(store, clock)
    assert a.try_lead() and not b.try_lead()
    a.release()
    assert store.record.spec.holder == ""
    assert b.try_lead()


def test_two_candidates_that_both_saw_the_lease_expire_cannot_both_take_it():
    store, clock = MemoryLeaseStore(), Clock()
    a, b = _pair(store, clock)
    c = Elector(store, "c", monotonic=clock)
    assert c.try_lead()
    assert not a.try_lead() and not b.try_lead()
    clock.seconds += 15
    # both read the same version; the second write names a version that is gone
    record = store.read()
    assert next_step(record, "a", 15) is Step.TAKE and next_step(record, "b", 15) is Step.TAKE
    assert a.try_lead()
    assert not b.try_lead()
    assert store.record.spec.holder == "a"


def test_an_unreachable_api_server_is_a_lost_round_not_a_crash():
    store, clock = MemoryLeaseStore(), Clock()
    a, _ = _pair(store, clock)
    store.unreachable = True
    assert not a.try_lead()
    store.unreachable = False
    assert a.try_lead()


def test_a_restarted_leader_with_the_same_identity_resumes_at_once():
    store, clock = MemoryLeaseStore(), Clock()
    assert Elector(store, "pod-0", monotonic=clock).try_lead()
    assert Elector(store, "pod-0", monotonic=clock).try_lead()  # same pod, new container


FAST = Timing(lease_seconds=2, renew_deadline_seconds=0.5, retry_seconds=0.05)


def test_a_standby_does_not_operate_until_the_leader_releases_the_lease():
    async def scenario():
        store = MemoryLeaseStore()
        leader, standby = Elector(store, "a", FAST), Elector(store, "b", FAST)
        operating: list[str] = []

        def operate(name):
            async def run(stop: asyncio.Event):
                operating.append(name)
                await stop.wait()

            return run

        stop_leader = asyncio.Event()

        async def leader_operates(stop: asyncio.Event):
            operating.append("a")
            await stop_leader.wait()  # as kopf returns on SIGTERM

        first = asyncio.create_task(lead_when_elected(leader, leader_operates))
        await asyncio.sleep(0.2)
        assert LEADER._value.get() == 1
        second = asyncio.create_task(lead_when_elected(standby, operate("b")))
        await asyncio.sleep(0.5)
        assert operating == ["a"]
        stop_leader.set()
        await first
        await asyncio.sleep(0.3)
        assert operating == ["a", "b"]
        assert store.record.spec.holder == "b"
        second.cancel()

    asyncio.run(scenario())


def test_config_puts_the_lease_in_the_operators_namespace_or_refuses_to_guess(tmp_path: Path):
    absent = tmp_path / "absent"
    assert LeaderElection.from_env({}, enabled=False) == LeaderElection(enabled=False)
    assert LeaderElection.from_env({"BALLAST_OPERATOR_NAMESPACE": "ops"}, enabled=True, pod_namespace_file=absent) == (
        LeaderElection(enabled=True, lease_name="ballast-operator", namespace="ops")
    )
    explicit = {"BALLAST_LEADER_ELECTION_NAMESPACE": "x", "BALLAST_LEADER_ELECTION_LEASE": "mine"}
    assert LeaderElection.from_env(explicit, enabled=True) == LeaderElection(True, "mine", "x")
    in_pod = tmp_path / "namespace"
    in_pod.write_text("ballast-system\n")
    assert LeaderElection.from_env({}, enabled=True, pod_namespace_file=in_pod).namespace == "ballast-system"
    with pytest.raises(ValueError, match="BALLAST_LEADER_ELECTION_NAMESPACE"):
        LeaderElection.from_env({}, enabled=True, pod_namespace_file=absent)


def test_a_leader_stops_holding_when_another_replica_took_the_lease_or_renewals_keep_failing():
    async def scenario():
        store = MemoryLeaseStore()
        leader = Elector(store, "a", FAST)
        assert leader.try_lead()
        holding = asyncio.create_task(hold(leader, asyncio.Event()))
        await asyncio.sleep(0.2)
        assert not holding.done()  # renewing
        store.record = LeaseRecord(replace(store.record.spec, holder="b"), "taken")
        assert await asyncio.wait_for(holding, timeout=1) is False  # gone at its next round, not after the deadline

        assert leader.try_lead() is False
        store.record = None
        began = asyncio.get_running_loop().time()
        assert leader.try_lead()
        store.unreachable = True
        assert await asyncio.wait_for(hold(leader, asyncio.Event()), timeout=2) is False
        took = asyncio.get_running_loop().time() - began
        assert FAST.renew_deadline_seconds <= took < FAST.renew_deadline_seconds + 0.3

    asyncio.run(scenario())


class SlowLeaseStore(MemoryLeaseStore):
    """Writes that take `write_seconds` before they reach the Lease, and reads that hang while
    `hanging` is set, as a request to an API server that stopped answering."""

    def __init__(self, write_seconds: float = 0.0):
        super().__init__()
        self.write_seconds = write_seconds
        self.hanging = threading.Event()
        self.answering = threading.Event()

    def read(self):
        if self.hanging.is_set():
            self.answering.wait(timeout=10)
        return super().read()

    def create(self, spec):
        time.sleep(self.write_seconds)
        return super().create(spec)

    def replace(self, spec, version):
        time.sleep(self.write_seconds)
        return super().replace(spec, version)


SLOW = Timing(lease_seconds=4, renew_deadline_seconds=1.0, retry_seconds=0.1)


def test_a_leader_whose_renewal_hangs_stops_at_the_deadline_counted_from_its_last_won_rounds_start():
    """The Lease a leader last wrote may have reached the API server at the start of its write,
    and a standby's clock then started: the deadline counts from there, and a request that hangs
    past it does not hold the leader up."""

    async def scenario():
        store = SlowLeaseStore(write_seconds=0.8)
        leader = Elector(store, "a", SLOW)
        began = time.monotonic()
        assert await asyncio.to_thread(leader.try_lead)  # the write is slow, the Lease written early
        store.hanging.set()
        try:
            assert await asyncio.wait_for(hold(leader, asyncio.Event()), timeout=5) is False
            took = time.monotonic() - began
        finally:
            store.answering.set()
        # counted from the end of the write, or waiting for the hung read, it would take 1.8 s or more
        assert SLOW.renew_deadline_seconds <= took < SLOW.renew_deadline_seconds + 0.4

    asyncio.run(scenario())


@pytest.mark.parametrize(
    "holder, since_last_win, seconds",
    [
        ("a", 10, 5),  # renewals failed to the deadline: until the Lease may expire
        ("a", 14.5, 0.5),
        ("a", 20, 0),
        ("b", 10, 0),  # another replica leads already
        ("", 10, 0),  # released: a standby takes it at its next read
        (None, float("inf"), 0),
    ],
)
def test_a_leader_that_lost_the_lease_stops_before_another_may_lead(holder, since_last_win, seconds):
    assert seconds_left_to_stop(holder, "a", since_last_win, Timing()) == seconds


class Exited(Exception):
    pass


def exit_raising(code: int):
    raise Exited(code)


def test_a_leader_whose_lease_another_replica_took_exits_at_once_without_waiting_for_kopf():
    async def scenario():
        store = MemoryLeaseStore()
        leader = Elector(store, "a", FAST)
        stop_seen = asyncio.Event()

        async def operate_slow_to_stop(stop: asyncio.Event):
            await stop.wait()
            stop_seen.set()
            await asyncio.sleep(60)  # handlers that do not stop

        leading = asyncio.create_task(lead_when_elected(leader, operate_slow_to_stop, exit_process=exit_raising))
        await asyncio.sleep(0.2)
        store.record = LeaseRecord(replace(store.record.spec, holder="b"), "taken")
        taken = time.monotonic()
        with pytest.raises(Exited) as exited:
            await asyncio.wait_for(leading, timeout=FAST.stop_margin_seconds + 1)
        # the next round (retry_seconds) sees b; waiting the stop margin for kopf would take 1.5 s
        assert time.monotonic() - taken < FAST.retry_seconds + 0.3
        assert exited.value.args == (LOST_LEASE_EXIT_CODE,)
        assert stop_seen.is_set() and LEADER._value.get() == 0
        for task in asyncio.all_tasks() - {asyncio.current_task()}:
            task.cancel()

    asyncio.run(scenario())


def test_a_stop_during_a_renewal_releases_the_lease_after_it():
    """kopf stops (SIGTERM) while a renewal is being written: the release names the version that
    renewal wrote, instead of racing it and losing to it."""

    async def scenario():
        store = SlowLeaseStore(write_seconds=0.15)
        leader = Elector(store, "a", FAST)
        kopf_stopped = asyncio.Event()

        async def operate(stop: asyncio.Event):
            await kopf_stopped.wait()

        leading = asyncio.create_task(lead_when_elected(leader, operate))
        await asyncio.sleep(0.5)  # renewing: every 0.05 s a write of 0.15 s, one always under way
        kopf_stopped.set()
        await asyncio.wait_for(leading, timeout=2)
        assert store.record.spec.holder == ""
        assert Elector(store, "b", FAST).try_lead()

    asyncio.run(scenario())


def test_a_stop_between_winning_the_lease_and_starting_kopf_releases_it_without_operating():
    async def scenario():
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()

        class SignalledWhileWinning(MemoryLeaseStore):
            def create(self, spec):
                written = super().create(spec)
                loop.call_soon_threadsafe(stop.set)  # SIGTERM while the winning write is answered
                return written

        store = SignalledWhileWinning()
        operated = []

        async def operate(stop: asyncio.Event):
            operated.append(True)

        began = time.monotonic()
        await asyncio.wait_for(lead_when_elected(Elector(store, "a", FAST), operate, stop=stop), timeout=1)
        assert time.monotonic() - began < FAST.retry_seconds + 0.2
        assert operated == []
        assert store.record.spec.holder == "" and LEADER._value.get() == 0
        assert Elector(store, "b", FAST).try_lead()  # at once, not after the Lease's duration

    asyncio.run(scenario())


def test_sigterm_to_a_standby_ends_it_within_a_round():
    """A real SIGTERM to this process, as the kubelet sends it to the container's PID 1."""
    patient = Timing(lease_seconds=15, renew_deadline_seconds=10, retry_seconds=0.05)
    exits: list[str] = []

    @asynccontextmanager
    async def standby_probe():
        yield
        exits.append("standby liveness closed")

    def not_handled(signum, frame):
        raise AssertionError("SIGTERM reached no asyncio handler: the operator would ignore it as PID 1")

    async def scenario():
        store = MemoryLeaseStore()
        assert Elector(store, "b", patient).try_lead()
        operated = []

        async def operate(stop: asyncio.Event):
            operated.append(True)

        stop = asyncio.Event()
        with stop_on_signals(stop):
            standing_by = asyncio.create_task(
                lead_when_elected(Elector(store, "a", patient), operate, standby_probe, stop)
            )
            await asyncio.sleep(0.2)
            assert not standing_by.done()
            os.kill(os.getpid(), signal.SIGTERM)
            began = time.monotonic()
            await asyncio.wait_for(standing_by, timeout=1)
        assert time.monotonic() - began < patient.retry_seconds + 0.2
        assert operated == [] and exits == ["standby liveness closed"]
        assert store.record.spec.holder == "b"

    previous = signal.signal(signal.SIGTERM, not_handled)
    try:
        asyncio.run(scenario())
    finally:
        signal.signal(signal.SIGTERM, previous)
