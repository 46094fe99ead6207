"""A model server's drift counters as flat series, one reading per pod, and the window between
two readings summed over pods.

Both ways of reading production behaviour end here: scraping the pods (`parse_metrics` on each
pod's /metrics, then `window_between`) and asking Prometheus (`ballast.drift.prometheus`, whose
`increase()` does the same subtraction). The checks in `ballast.drift.checks` read only a Window.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

SeriesKey = tuple[str, tuple[tuple[str, str], ...]]
"""(sample name, sorted labels without the model and version labels)."""

IDENTITY_LABELS = frozenset({"model", "version"})
COUNTED_FAMILY_PREFIXES = ("ballast_feature_", "ballast_prediction_", "ballast_feedback_", "ballast_serving_rows")
COUNTED_TYPES = frozenset({"counter", "histogram"})
REFERENCE_PREFIX = "ballast_reference_"
ROWS = "ballast_serving_rows_total"


def series_key(name: str, labels: dict[str, str]) -> SeriesKey:
    return name, tuple(sorted((k, v) for k, v in labels.items() if k not in IDENTITY_LABELS))


def labels_of(key: SeriesKey) -> dict[str, str]:
    return dict(key[1])


@dataclass(frozen=True)
class Reading:
    """What one pod had counted since it started, and the reference it exports."""

    counters: dict[SeriesKey, float] = field(default_factory=dict)
    reference: dict[SeriesKey, float] = field(default_factory=dict)


def parse_metrics(text: str) -> Reading:
    counters: dict[SeriesKey, float] = {}
    reference: dict[SeriesKey, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name.startswith(REFERENCE_PREFIX):
            for sample in family.samples:
                reference[series_key(sample.name, sample.labels)] = sample.value
        elif family.type in COUNTED_TYPES and family.name.startswith(COUNTED_FAMILY_PREFIXES):
            for sample in family.samples:
                if not sample.name.endswith("_created"):  # creation timestamps, not counts
                    counters[series_key(sample.name, sample.labels)] = sample.value
    return Reading(counters, reference)


def _monotonic(key: SeriesKey) -> bool:
    """Histogram sums can fall (negative predictions); only counts prove a restart."""
    return not key[0].endswith("_sum")


@dataclass(frozen=True)
class Window:
    """Increases over a window, summed over pods, and the reference they are judged against."""

    counts: dict[SeriesKey, float] = field(default_factory=dict)
    reference: dict[SeriesKey, float] = field(default_factory=dict)
    pods: int = 0
    restarted_pods: int = 0
    """Pods whose counters went down (or that were new): they count from zero, which
    undercounts the window but never invents data."""

    @property
    def rows(self) -> float:
        return self.counts.get((ROWS, ()), 0.0)


def window_between(start: dict[str, Reading], now: dict[str, Reading]) -> Window:
    """The window from `start` to `now`, each a reading per pod (keyed by pod address)."""
    counts: dict[SeriesKey, float] = {}
    reference: dict[SeriesKey, float] = {}
    restarted = 0
    for pod, current in now.items():
        before = start.get(pod)
        reset = before is None or any(
            value < before.counters.get(key, 0.0) for key, value in current.counters.items() if _monotonic(key))
        restarted += reset
        for key, value in current.counters.items():
            increase = value if reset else value - before.counters.get(key, 0.0)
            counts[key] = counts.get(key, 0.0) + increase
        # every pod of a version exports the same reference: keep one copy, never a sum
        reference.update(current.reference)
    return Window(counts=counts, reference=reference, pods=len(now), restarted_pods=restarted)
