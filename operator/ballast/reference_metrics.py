"""The reference distribution of each model version a DriftPolicy watches: read once from one
of the version's serving pods (REFERENCE_PATH), kept for the drift checks, and exported once per
version on the operator's /metrics.

Every pod of a version computes the same reference from the same training snapshot. Exported by
every pod it would be one identical copy per pod in Prometheus, gone with the pods; here it is
one series per (namespace, model, version, feature, bin), as kube-state-metrics describes an
object once. A version's reference never changes: it is read again only by a new operator
process, or after a read that found none.

A policy that judges against the snapshot's newest part (ballast.drift.newest) has that part's
reference kept here too, keyed by the part's query; only the whole snapshot's is exported, so
the families keep their labels (the policy's evaluations say what the part judged).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client.core import REGISTRY, GaugeMetricFamily
from prometheus_client.registry import Collector

from ballast.drift.checks import REFERENCE_BINS, REFERENCE_MISSING, REFERENCE_PREDICTIONS, REFERENCE_ROWS
from ballast.drift.counters import SeriesKey, labels_of
from ballast.drift.group_checks import REFERENCE_ERROR_RATES, REFERENCE_FAIRNESS, REFERENCE_FOLDED_GROUPS

VERSION_LABELS = ("namespace", "model", "version")
FAMILIES: dict[str, tuple[str, tuple[str, ...]]] = {
    REFERENCE_ROWS: ("Rows of the training snapshot of the model version.", ()),
    REFERENCE_BINS: (
        "Share of the training snapshot's present values in each feature bucket (`bin` is the `le` of "
        "ballast_feature_value, or the category).",
        ("feature", "bin"),
    ),
    REFERENCE_MISSING: ("Share of the training snapshot's rows missing the feature.", ("feature",)),
    REFERENCE_PREDICTIONS: ("Share of the training target in each prediction bucket or class.", ("bin",)),
    REFERENCE_FAIRNESS: (
        "Training's fairness difference on its test split, by sensitive feature and metric.",
        ("feature", "metric", "positive_class"),
    ),
    REFERENCE_FOLDED_GROUPS: ("Groups of the sensitive feature folded into __other__.", ("feature",)),
    REFERENCE_ERROR_RATES: (
        "Training's false positive and false negative rate of each class on its test split.",
        ("class", "rate"),
    ),
}
"""Name to help text and the server's own labels, each family as the model server answers it."""

Reference = dict[SeriesKey, float]


@dataclass
class _Kept:
    version: str
    reference: Reference
    policies: set[str] = field(default_factory=set)


class ReferenceGauges(Collector):
    """One reference per watched model: the version its policies watch (the Production one)."""

    def __init__(self) -> None:
        self._kept: dict[tuple[str, str, str], _Kept] = {}
        self._lock = threading.Lock()

    def reference_of(
        self, namespace: str, policy: str, model: str, version: str, read: Callable[[], Reference], part: str = ""
    ) -> Reference:
        """The version's reference (of the snapshot's newest `part`, a reference page query, when
        given), read (by `read`, outside the lock) only when not kept yet. An empty read is not
        kept, so the next evaluation reads again; a new version replaces the model's previous one."""
        key = (namespace, model, part)
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None and kept.version == version:
                kept.policies.add(policy)
                return kept.reference
        reference = read()
        if reference:
            with self._lock:
                self._kept[key] = _Kept(version, dict(reference), {policy})
        return reference

    def forget(self, namespace: str, policy: str) -> None:
        """The policy is gone: a model no policy watches any more is no longer exported."""
        with self._lock:
            for key, kept in list(self._kept.items()):
                if key[0] == namespace:
                    kept.policies.discard(policy)
                    if not kept.policies:
                        del self._kept[key]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        families = {
            name: GaugeMetricFamily(name, documentation, labels=[*VERSION_LABELS, *labels])
            for name, (documentation, labels) in FAMILIES.items()
        }
        with self._lock:
            kept = dict(self._kept)
        for (namespace, model, part), entry in kept.items():
            if part:
                continue  # a newest part's reference: kept for its policy, not exported
            for key, value in entry.reference.items():
                name, labels = key[0], labels_of(key)
                own = FAMILIES[name][1] if name in FAMILIES else None
                # a family or a label this code does not know (a newer server's) is left out
                if own is None or set(labels) != set(own):
                    continue
                families[name].add_metric([namespace, model, entry.version, *(labels[label] for label in own)], value)
        yield from families.values()

    def describe(self) -> list:
        return []  # collected lazily: nothing to check at registration


REFERENCE_GAUGES = ReferenceGauges()
REGISTRY.register(REFERENCE_GAUGES)
