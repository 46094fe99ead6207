"""A model server's drift counters as flat series, one reading per pod, and the window between
two readings summed over pods.

Both ways of reading production behaviour end here: scraping the pods (`parse_metrics` on each
pod's /metrics, then `window_between`) and asking Prometheus (`ballast.drift.prometheus`, whose
`increase()` does the same subtraction). The checks in `ballast.drift.checks` read only a Window.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

SeriesKey = tuple[str, tuple[tuple[str, str], ...]]
"""(sample name, sorted labels without the model and version labels)."""

IDENTITY_LABELS = frozenset({"model", "version"})
COUNTED_FAMILY_PREFIXES = (
    "ballast_feature_",
    "ballast_prediction_",
    "ballast_feedback_",
    "ballast_fairness_",
    "ballast_serving_rows",
)
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
    """The counted series and the reference of one /metrics text (Prometheus text format 0.0.4).

    Hand-written rather than prometheus_client's parser, which took 50 ms per scrape of a
    100-feature model (benchmarks/policy_evaluation.py): it builds an object per sample of
    every family, where this keeps only the families drift reads. tests/unit/test_drift_counters.py
    checks that both give the same Reading on a real server's output.
    """
    counters: dict[SeriesKey, float] = {}
    reference: dict[SeriesKey, float] = {}
    target: dict[SeriesKey, float] | None = None
    for line in text.split("\n"):  # not splitlines(): label values may hold a bare \r
        if line.startswith("#"):
            if line.startswith("# TYPE "):
                _, _, family, kind = line.split(" ", 3)
                target = (
                    reference
                    if family.startswith(REFERENCE_PREFIX)
                    else counters
                    if kind.strip() in COUNTED_TYPES and family.startswith(COUNTED_FAMILY_PREFIXES)
                    else None
                )
            continue
        if target is None or not line:
            continue
        match = _SAMPLE.match(line)
        if match is None:
            raise ValueError(f"not a Prometheus sample line: {line[:200]!r}")
        name, labels, value = match.groups()
        if target is counters and name.endswith("_created"):
            continue  # creation timestamps, not counts
        target[series_key(name, _labels(labels))] = float(value)
    return Reading(counters, reference)


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?[ \t]+(\S+)(?:[ \t]+\S+)?$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
_ESCAPE = re.compile(r"\\(.)")


def _labels(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    return {
        key: _ESCAPE.sub(lambda m: "\n" if m.group(1) == "n" else m.group(1), value) if "\\" in value else value
        for key, value in _LABEL.findall(text)
    }


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
            value < before.counters.get(key, 0.0) for key, value in current.counters.items() if _monotonic(key)
        )
        restarted += reset
        for key, value in current.counters.items():
            increase = value if reset or before is None else value - before.counters.get(key, 0.0)
            counts[key] = counts.get(key, 0.0) + increase
        # every pod of a version exports the same reference: keep one copy, never a sum
        reference.update(current.reference)
    return Window(counts=counts, reference=reference, pods=len(now), restarted_pods=restarted)
