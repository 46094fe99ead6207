"""Leader election (ballast.leadership): the rules, candidates racing on one Lease with a
resourceVersion precondition, hand-over on release and on expiry, and the operator's life as
standby then leader."""

from __future__ import annotations

import asyncio
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
)
from ballast.leadership.running import hold, lead_when_elected
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
        holding = asyncio.create_task(hold(leader))
        await asyncio.sleep(0.2)
        assert not holding.done()  # renewing
        store.record = LeaseRecord(replace(store.record.spec, holder="b"), "taken")
        await asyncio.wait_for(holding, timeout=1)  # gone at its next round, not after the deadline

        assert leader.try_lead() is False
        store.record = None
        assert leader.try_lead()
        store.unreachable = True
        began = asyncio.get_running_loop().time()
        await asyncio.wait_for(hold(leader), timeout=2)
        assert asyncio.get_running_loop().time() - began >= FAST.renew_deadline_seconds

    asyncio.run(scenario())
