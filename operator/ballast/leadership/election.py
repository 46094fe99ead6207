"""Who leads: the replica that holds the Lease, renewing it every few seconds, reconciles; the
others read it and take it when it is released or has not changed for its whole duration.

The rules and timings are client-go's (k8s.io/client-go/tools/leaderelection): a candidate
judges expiry by how long *it* has seen the Lease unchanged, on its own monotonic clock, so
the replicas' wall clocks may disagree without two of them leading.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Timing:
    """client-go's defaults. A leader that cannot renew for renew_deadline_seconds stops; a
    standby takes over after lease_seconds unchanged: the difference is the leader's time to
    stop writing before anyone else may start."""

    lease_seconds: int = 15
    renew_deadline_seconds: float = 10
    retry_seconds: float = 2

    @property
    def stop_margin_seconds(self) -> float:
        return self.lease_seconds - self.renew_deadline_seconds


@dataclass(frozen=True)
class LeaseSpec:
    holder: str
    """The leading replica's identity; empty when the Lease was released."""
    lease_seconds: int
    acquired_at: datetime
    renewed_at: datetime
    transitions: int


@dataclass(frozen=True)
class LeaseRecord:
    spec: LeaseSpec
    version: str
    """The Lease's resourceVersion: a write that names it fails if anyone wrote in between."""


class LeaseStore(Protocol):
    """The Lease's reads and writes. create and replace return None when another replica wrote
    first (409 Conflict); any other failure raises."""

    def read(self) -> LeaseRecord | None: ...

    def create(self, spec: LeaseSpec) -> LeaseRecord | None: ...

    def replace(self, spec: LeaseSpec, version: str) -> LeaseRecord | None: ...


class Step(StrEnum):
    CREATE = "create"
    RENEW = "renew"
    TAKE = "take"
    WAIT = "wait"


def next_step(record: LeaseRecord | None, identity: str, unchanged_for_seconds: float) -> Step:
    """What a candidate does with the Lease as it read it. Holding it already (a container
    restarted in the same pod keeps the pod's name) is a renewal, not a wait."""
    if record is None:
        return Step.CREATE
    if record.spec.holder == identity:
        return Step.RENEW
    if not record.spec.holder or unchanged_for_seconds >= record.spec.lease_seconds:
        return Step.TAKE
    return Step.WAIT


def claimed(previous: LeaseSpec | None, identity: str, lease_seconds: int, now: datetime) -> LeaseSpec:
    """The Lease as `identity` writes it to lead: a renewal keeps its acquisition time, a
    change of holder counts a transition."""
    if previous is not None and previous.holder == identity:
        return replace(previous, lease_seconds=lease_seconds, renewed_at=now)
    transitions = 0 if previous is None else previous.transitions + 1
    return LeaseSpec(identity, lease_seconds, acquired_at=now, renewed_at=now, transitions=transitions)


def released(spec: LeaseSpec, now: datetime) -> LeaseSpec:
    """The Lease as a stopping leader leaves it: no holder, so a standby takes it at its next
    look instead of after a whole lease duration."""
    return replace(spec, holder="", lease_seconds=1, renewed_at=now)


def seconds_left_to_stop(holder: str | None, identity: str, since_last_win: float, timing: Timing) -> float:
    """How long a leader that lost the Lease may take to stop acting: no time when the Lease
    shows another holder or none (a standby may take it at its next read), else until the Lease,
    written no earlier than the start of the last round this leader won, may expire."""
    if holder != identity:
        return 0.0
    return max(0.0, timing.lease_seconds - since_last_win)


def utc_now() -> datetime:
    return datetime.now(UTC)


class Elector:
    """One candidate: each call of try_lead is one read, one decision and at most one write."""

    def __init__(
        self,
        store: LeaseStore,
        identity: str,
        timing: Timing = Timing(),
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = utc_now,
    ):
        self.store, self.identity, self.timing = store, identity, timing
        self._monotonic, self._now = monotonic, now
        self._record: LeaseRecord | None = None
        self._seen_since = 0.0
        self._won_at: float | None = None

    @property
    def holder(self) -> str | None:
        """Who held the Lease at this candidate's last read or write."""
        return self._record.spec.holder if self._record else None

    def since_last_win(self) -> float:
        """Seconds since the start of the last round this candidate won (infinite before any):
        the Lease it wrote then is no younger, so the clock of its expiry started no later."""
        return float("inf") if self._won_at is None else self._monotonic() - self._won_at

    def _observe(self, record: LeaseRecord | None) -> None:
        if record is None or self._record is None or record.version != self._record.version:
            self._seen_since = self._monotonic()
        self._record = record

    def try_lead(self) -> bool:
        """Whether this candidate leads after this round. A failed request is a round lost,
        logged: the callers retry every retry_seconds."""
        began = self._monotonic()
        try:
            record = self.store.read()
            self._observe(record)
            step = next_step(record, self.identity, self._monotonic() - self._seen_since)
            if step is Step.WAIT:
                return False
            spec = claimed(record.spec if record else None, self.identity, self.timing.lease_seconds, self._now())
            written = self.store.create(spec) if record is None else self.store.replace(spec, record.version)
        except Exception as error:  # noqa: BLE001 - any failure (network, 5xx) is a lost round, retried
            log.warning("leader election: the Lease could not be read or written: %s", error)
            return False
        if written is None:
            return False
        if step is Step.TAKE or step is Step.CREATE:
            log.info("leader election: %s leads (Lease %s)", self.identity, step)
        self._observe(written)
        self._won_at = began
        return True

    def release(self) -> None:
        """Gives the Lease up if this candidate holds it, so a standby need not wait it out."""
        if self._record is None or self._record.spec.holder != self.identity:
            return
        try:
            written = self.store.replace(released(self._record.spec, self._now()), self._record.version)
        except Exception as error:  # noqa: BLE001 - the Lease then expires by itself
            log.warning("leader election: the Lease could not be released: %s", error)
            return
        if written is None:  # written since this candidate's last round: not its own to release
            log.warning(
                "leader election: %s did not release the Lease: it changed since its last renewal", self.identity
            )
            return
        self._observe(written)
        log.info("leader election: %s released the Lease", self.identity)
