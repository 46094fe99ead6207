"""The drift window between evaluations: its start, its roll-over, pods that restart, and the
Prometheus path that resumes from status.windowStart after an operator restart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ballast.drift.counters import ROWS, Reading
from ballast.drift.window_memory import (
    MIN_WINDOW,
    WindowMemory,
    current,
    period_over,
    read_pods,
    read_prometheus,
    resumed_start,
    rolled_over,
)

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
REFERENCE = {("ballast_reference_rows", ()): 1000.0}


def reading(rows: float) -> Reading:
    return Reading(counters={(ROWS, ()): rows}, reference=REFERENCE)


def test_a_first_reading_starts_the_window_and_judges_nothing():
    read = read_pods(None, "v1", {"pod-a": reading(40)}, NOW)
    assert read.window is None
    assert read.memory == WindowMemory("v1", NOW, {"pod-a": reading(40)}, {"pod-a": reading(40)})


def test_the_next_reading_is_the_increase_since_the_start_summed_over_pods():
    first = read_pods(None, "v1", {"pod-a": reading(40), "pod-b": reading(10)}, NOW)
    later = read_pods(first.memory, "v1", {"pod-a": reading(100), "pod-b": reading(30)}, NOW + MINUTE)
    assert later.window.rows == 80 and later.window.pods == 2 and later.window.restarted_pods == 0
    assert later.window.reference == REFERENCE  # one copy, never a sum over pods
    assert later.memory.started_at == NOW and later.memory.latest_readings["pod-a"] == reading(100)


def test_a_pod_that_restarted_counts_from_zero_and_a_new_pod_from_its_start():
    first = read_pods(None, "v1", {"pod-a": reading(500)}, NOW)
    later = read_pods(first.memory, "v1", {"pod-a": reading(20), "pod-c": reading(7)}, NOW + MINUTE)
    # pod-a's counter went down: its 20 rows are all new, never 20 - 500
    assert later.window.rows == 27 and later.window.restarted_pods == 2


def test_the_window_rolls_over_at_the_period_from_the_last_reading():
    period = 600.0
    assert not period_over(NOW, NOW + timedelta(seconds=599), period)
    assert period_over(NOW, NOW + timedelta(seconds=600), period)
    first = read_pods(None, "v1", {"pod-a": reading(0)}, NOW)
    judged = read_pods(first.memory, "v1", {"pod-a": reading(300)}, NOW + timedelta(seconds=600))
    fresh = rolled_over(judged.memory, NOW + timedelta(seconds=600))
    assert fresh.started_at == NOW + timedelta(seconds=600) and fresh.start_readings == {"pod-a": reading(300)}
    after = read_pods(fresh, "v1", {"pod-a": reading(350)}, NOW + timedelta(seconds=660))
    assert after.window.rows == 50  # only what came after the roll-over


def test_a_new_production_version_forgets_the_old_window():
    memory = read_pods(None, "v1", {"pod-a": reading(40)}, NOW).memory
    assert current(memory, "v1") is memory and current(memory, "v2") is None
    read = read_pods(memory, "v2", {"pod-z": reading(5)}, NOW + MINUTE)
    assert read.window is None and read.memory.version == "v2" and read.memory.started_at == NOW + MINUTE


def test_pods_read_after_prometheus_start_a_window_rather_than_count_everything():
    from_prometheus = WindowMemory("v1", NOW)
    read = read_pods(from_prometheus, "v1", {"pod-a": reading(900)}, NOW + MINUTE)
    assert read.window is None and read.memory.started_at == NOW + MINUTE


def test_prometheus_starts_a_window_then_queries_from_its_start():
    first = read_prometheus(None, "v1", None, NOW)
    assert first.query_from is None and first.memory == WindowMemory("v1", NOW)
    later = read_prometheus(first.memory, "v1", None, NOW + MINUTE)
    assert later.query_from == NOW and later.memory == first.memory


def test_prometheus_is_not_asked_about_a_window_shorter_than_its_resolution():
    started = WindowMemory("v1", NOW)
    assert read_prometheus(started, "v1", None, NOW + MIN_WINDOW / 2).query_from is None
    assert read_prometheus(started, "v1", None, NOW - MIN_WINDOW).query_from is None  # another handler's later start


def test_a_restarted_operator_resumes_the_prometheus_window_status_names_at_once():
    """The memory is gone: status.windowStart says where the window began, Prometheus kept the counts."""
    window_start = NOW - 4 * MINUTE
    resumed = resumed_start("v1", window_start, "v1", NOW, period_seconds=600)
    assert resumed == window_start
    read = read_prometheus(None, "v1", resumed, NOW)
    assert read.query_from == window_start and read.memory == WindowMemory("v1", window_start)


def test_a_resumed_window_is_at_most_one_period_long_and_never_ends_before_it_starts():
    assert resumed_start("v1", NOW - timedelta(hours=3), "v1", NOW, period_seconds=600) == NOW - 10 * MINUTE
    assert resumed_start("v1", NOW + MINUTE, "v1", NOW, period_seconds=600) == NOW
    assert read_prometheus(None, "v1", NOW, NOW).query_from is None


def test_nothing_resumes_for_another_version_or_without_a_recorded_start():
    assert resumed_start("v1", NOW - MINUTE, "v2", NOW, period_seconds=600) is None
    assert resumed_start("v1", None, "v1", NOW, period_seconds=600) is None
    assert resumed_start(None, NOW - MINUTE, "v1", NOW, period_seconds=600) is None


def test_a_restarted_operator_scraping_pods_starts_a_new_window():
    """Per-pod readings live only in memory: after a restart the first reading starts again."""
    read = read_pods(None, "v1", {"pod-a": reading(5000)}, NOW)
    assert read.window is None and read.memory.started_at == NOW
