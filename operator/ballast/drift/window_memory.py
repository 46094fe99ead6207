"""What the operator remembers of a DriftPolicy's current window between two evaluations, and
the window each new reading gives.

Scraping the pods, the window is the increase from each pod's reading at its start to its
reading now (`window_between`: a pod whose counters went down restarted and counts from zero),
so the start's readings are kept. With Prometheus, which keeps the counts, only the start time
is kept, and status.windowStart names it too: an operator that restarted (and lost this memory)
resumes the window from status. Pure functions: the handler keeps one WindowMemory per policy.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from ballast.drift.counters import Reading, Window, window_between

PodReadings = dict[str, Reading]
"""One reading per serving pod, keyed by the pod's address."""

MIN_WINDOW = timedelta(milliseconds=1)
"""PromQL's resolution: a shorter window has no range to query."""


@dataclass(frozen=True)
class WindowMemory:
    version: str
    """The Production version the window watches: another version starts another window."""
    started_at: datetime
    start_readings: PodReadings | None = None
    """Each pod's counters at the window's start (None with Prometheus, which keeps the counts)."""
    latest_readings: PodReadings | None = None
    """The last reading: the start of the next window when this one rolls over."""


@dataclass(frozen=True)
class PodWindow:
    memory: WindowMemory
    window: Window | None
    """None when this reading started the window: a first reading only sets the start."""


@dataclass(frozen=True)
class PrometheusWindow:
    memory: WindowMemory
    query_from: datetime | None
    """Where the range to ask Prometheus about begins (it ends now); None when there is no range yet."""


def current(memory: WindowMemory | None, version: str) -> WindowMemory | None:
    """The remembered window if it watches `version`; a new Production version forgets it."""
    return memory if memory is not None and memory.version == version else None


def read_pods(memory: WindowMemory | None, version: str, readings: PodReadings, now: datetime) -> PodWindow:
    """The window from the readings kept at its start to these; a first reading (a new version,
    or an operator that restarted and lost its memory) starts a window instead."""
    kept = current(memory, version)
    if kept is None or kept.start_readings is None:  # None: the window was read from Prometheus until now
        return PodWindow(WindowMemory(version, now, start_readings=readings, latest_readings=readings), None)
    window = window_between(kept.start_readings, readings)
    return PodWindow(replace(kept, latest_readings=readings), window)


def read_prometheus(
    memory: WindowMemory | None, version: str, resumed_start: datetime | None, now: datetime
) -> PrometheusWindow:
    """The range to query: from the remembered start, else from where status says the window
    began (`resumed_start`), else none yet (the window starts now)."""
    kept = current(memory, version)
    if kept is None:
        kept = WindowMemory(version, resumed_start or now)
        if resumed_start is None or resumed_start >= now:
            return PrometheusWindow(kept, None)
    if now - kept.started_at < MIN_WINDOW:
        # Another handler of this policy (its create and its timer can run at the same moment)
        # started the window just now: nothing to ask Prometheus about yet.
        return PrometheusWindow(kept, None)
    return PrometheusWindow(kept, kept.started_at)


def rolled_over(memory: WindowMemory, now: datetime) -> WindowMemory:
    """A new window from now, after a firing or a full period: the pods' last reading is its start."""
    return WindowMemory(memory.version, now, start_readings=memory.latest_readings)


def period_over(started_at: datetime, now: datetime, period_seconds: float) -> bool:
    return (now - started_at).total_seconds() >= period_seconds


def resumed_start(
    watched_version: str | None, window_start: datetime | None, production: str, now: datetime, period_seconds: float
) -> datetime | None:
    """Where a window read from Prometheus resumes when the operator has lost its memory (a
    restart): Prometheus kept the counts and status kept the start. A start more than a period
    back resumes one period back, so the next evaluation judges a full window; a clock behind the
    recorded start never gives a window that ends before it starts."""
    if watched_version != production or window_start is None:
        return None
    return min(max(window_start, now - timedelta(seconds=period_seconds)), now)
