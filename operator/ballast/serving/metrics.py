"""The model server's Prometheus metrics: the names and labels drift detection reads.

Every series carries `model` and `version` (the ModelVersion's model and version). Names
and labels are an interface: docs/metrics.md describes them for readers outside the code.

Requests
  ballast_serving_requests_total{endpoint, code}           counter, every request by status code
  ballast_serving_request_errors_total{endpoint, code}     counter, responses with code >= 400
  ballast_serving_request_duration_seconds{endpoint}       histogram, handler time of requests not
                                                           refused as the client's fault (4xx)
      endpoint: infer | feedback | health | metadata | metrics | other (gRPC calls too, by the
                status code REST would have answered: ballast.serving.grpcserver)
  ballast_serving_rows_total                               counter, rows predicted by infer
  ballast_serving_ready                                    gauge, 1 while ready
  ballast_serving_model_info{sha256, task, predictor, dataset, dataset_sha256}   gauge, always 1

Features (live traffic of infer only)
  ballast_feature_value{feature}                  histogram per numeric feature; `le` are the
                                                  training profile's binEdges, then +Inf
  ballast_feature_category_total{feature, category}   counter per categorical value: the
                                                  profile's frequent values, __other__ (seen in
                                                  training, not listed), __unseen__ (never seen)
  ballast_feature_missing_total{feature}          counter of missing values (any feature)

Predictions
  ballast_prediction_class_total{class}                     counter (classifiers)
  ballast_prediction_max_probability                        histogram, le 0.1 ... 1.0 (classifiers)
  ballast_prediction_class_probability{class}               histogram, le 0.1 ... 1.0 (classifiers)
  ballast_prediction_value                                  histogram, `le` from the target's
                                                            profile binEdges (regressors)

Feedback
  ballast_feedback_rows_total{result}             counter; result: matched (a true label met its
                                                  prediction) | unmatched (unknown or expired id)
  ballast_feedback_confusion_total{true_class, predicted_class}   counter (classifiers);
                                                  true_class __unseen__ for labels not in classes
  ballast_feedback_absolute_error_total           counter (regressors), sum of |predicted - true|
  ballast_feedback_squared_error_total            counter (regressors)
  ballast_feedback_signed_error                   gauge (regressors), sum of predicted - true

Fairness (binary classifiers trained with gates.fairness: its sensitive feature only; groups
are the feature's drift buckets, at most groups.MAX_GROUPS, the rest folded into __other__)
  ballast_fairness_prediction_total{feature, group, predicted_class}   counter, live traffic
  ballast_fairness_feedback_total{feature, group, true_class, predicted_class}   counter

Reference (the training snapshot, counted into the same buckets at start-up), at
GET /metrics/reference and not in /metrics: it is the same in every pod of a version, so the
operator reads it from one pod and exports it once per version (ballast.reference_metrics)
  ballast_reference_rows                                  gauge
  ballast_reference_feature_bin_ratio{feature, bin}       gauge; bin is the `le` label of
                                                          ballast_feature_value or the category
  ballast_reference_feature_missing_ratio{feature}        gauge
  ballast_reference_prediction_bin_ratio{bin}             gauge; bin is a class (classifiers) or
                                                          the `le` of ballast_prediction_value
  ballast_reference_fairness{feature, metric, positive_class}   gauge, training's difference on
                                                          its test split
  ballast_reference_fairness_folded_groups{feature}       gauge, buckets folded into __other__
  ballast_reference_class_error_rate{class, rate}         gauge, rate falsePositive | falseNegative
                                                          of each class on training's test split
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from ballast.drift.newest import NewestPart
from ballast.serving.buckets import NumericEdges, le_labels
from ballast.serving.distributions import Distributions
from ballast.serving.feedback import FeedbackCounts
from ballast.serving.groups import GroupCounts
from ballast.serving.measured import TrainingMeasurements
from ballast.serving.reference import Reference
from ballast.serving.signature import ModelSignature

LATENCY_BUCKETS = (
    0.00025,
    0.0005,
    0.00075,
    0.001,
    0.0015,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)
ENDPOINTS = ("infer", "feedback", "health", "metadata", "metrics", "other")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MODEL_LABELS = ("model", "version")


def _histogram_rows(edges: NumericEdges, counts: np.ndarray) -> Iterator[tuple[int, list[tuple[str, float]]]]:
    """Cumulative (le, count) buckets per series; padded columns of the count matrix are skipped."""
    for i, series in enumerate(edges.edges):
        used = counts[i, : len(series) + 1]
        yield i, list(zip(le_labels(series), np.cumsum(used).tolist()))


class _ModelCollector(Collector):
    """Families whose series carry the served model's labels first."""

    model: list[str]

    def _family(self, kind: type, name: str, documentation: str, labels: tuple[str, ...] = ()) -> Any:
        return kind(name, documentation, labels=[*MODEL_LABELS, *labels])


class DriftCollector(_ModelCollector):
    """At scrape time: counts what requests held into the live Distributions, renders them and the feedback."""

    def __init__(
        self,
        signature: ModelSignature,
        live: Distributions,
        feedback: FeedbackCounts,
        predictor_kind: str,
        ready: list[bool],
        groups: GroupCounts | None = None,
    ) -> None:
        self.signature, self.live, self.feedback, self.groups = signature, live, feedback, groups
        self.predictor_kind, self.ready = predictor_kind, ready
        self.model = [signature.name, signature.version]

    def collect(self) -> Iterator[Metric]:
        self.live.settle()  # requests only hold what they saw; a scrape counts it
        yield from self._serving()
        yield from self._features()
        yield from self._predictions()
        yield from self._feedback()
        if self.groups is not None:
            yield from self._groups(self.groups)

    def _serving(self) -> Iterator[Metric]:
        s, model = self.signature, self.model
        rows = self._family(CounterMetricFamily, "ballast_serving_rows", "Rows predicted by infer requests.")
        rows.add_metric(model, self.live.rows)
        ready = self._family(GaugeMetricFamily, "ballast_serving_ready", "1 while the server takes inferences.")
        ready.add_metric(model, 1.0 if self.ready[0] else 0.0)
        info = self._family(
            GaugeMetricFamily,
            "ballast_serving_model_info",
            "The served model; always 1.",
            ("sha256", "task", "predictor", "dataset", "dataset_sha256"),
        )
        info.add_metric(
            [*model, s.sha256, s.task, self.predictor_kind, s.dataset_name or "", s.dataset_sha256 or ""], 1.0
        )
        yield from (rows, ready, info)

    def _features(self) -> Iterator[Metric]:
        live, model = self.live, self.model
        numeric = live.buckets.numeric
        values = self._family(
            HistogramMetricFamily,
            "ballast_feature_value",
            "Numeric feature values; buckets are the training profile's bin edges.",
            ("feature",),
        )
        for i, buckets in _histogram_rows(numeric, live.feature_counts):
            values.add_metric([*model, numeric.names[i]], buckets, float(live.feature_sums[i]))
        categories = self._family(
            CounterMetricFamily,
            "ballast_feature_category",
            "Categorical feature values by category (__other__, __unseen__ included).",
            ("feature", "category"),
        )
        for j, category in enumerate(live.buckets.categorical):
            for label, count in zip(category.labels, live.category_counts[j].tolist()):
                categories.add_metric([*model, category.feature, label], count)
        missing = self._family(CounterMetricFamily, "ballast_feature_missing", "Missing feature values.", ("feature",))
        for i, name in enumerate(numeric.names):
            missing.add_metric([*model, name], int(live.feature_missing[i]))
        for j, category in enumerate(live.buckets.categorical):
            missing.add_metric([*model, category.feature], int(live.category_missing[j]))
        yield from (values, categories, missing)

    def _predictions(self) -> Iterator[Metric]:
        live, model = self.live, self.model
        if not self.signature.is_classifier:
            values = self._family(
                HistogramMetricFamily,
                "ballast_prediction_value",
                "Predicted values; buckets are the target's profile bin edges.",
            )
            for _, buckets in _histogram_rows(live.target_edges, live.value_counts.reshape(1, -1)):
                values.add_metric(model, buckets, live.value_sum)
            yield values
            return
        classes = self._family(CounterMetricFamily, "ballast_prediction_class", "Predictions by class.", ("class",))
        for label, count in zip(live.classes, live.class_counts.tolist()):
            classes.add_metric([*model, str(label)], count)
        top = self._family(
            HistogramMetricFamily,
            "ballast_prediction_max_probability",
            "Probability of the predicted (most probable) class.",
        )
        per_class = self._family(
            HistogramMetricFamily,
            "ballast_prediction_class_probability",
            "Predicted probability of each class.",
            ("class",),
        )
        for i, buckets in _histogram_rows(live.probability_edges, live.probability_counts):
            total = float(live.probability_sums[i])
            if i == 0:
                top.add_metric(model, buckets, total)
            else:
                per_class.add_metric([*model, str(live.classes[i - 1])], buckets, total)
        yield from (classes, top, per_class)

    def _feedback(self) -> Iterator[Metric]:
        feedback, model = self.feedback, self.model
        rows = self._family(
            CounterMetricFamily, "ballast_feedback_rows", "Labelled feedback rows by result.", ("result",)
        )
        for result, count in feedback.rows.items():
            rows.add_metric([*model, result], count)
        yield rows
        if self.signature.is_classifier:
            confusion = self._family(
                CounterMetricFamily,
                "ballast_feedback_confusion",
                "Feedback rows by true and predicted class.",
                ("true_class", "predicted_class"),
            )
            for t, true_label in enumerate(feedback.true_class_labels):
                for p, predicted in enumerate(feedback.classes):
                    confusion.add_metric([*model, true_label, str(predicted)], int(feedback.confusion[t, p]))
            yield confusion
            return
        absolute = self._family(
            CounterMetricFamily, "ballast_feedback_absolute_error", "Sum of |predicted - true| over feedback rows."
        )
        absolute.add_metric(model, feedback.absolute_error)
        squared = self._family(
            CounterMetricFamily, "ballast_feedback_squared_error", "Sum of (predicted - true)^2 over feedback rows."
        )
        squared.add_metric(model, feedback.squared_error)
        signed = self._family(
            GaugeMetricFamily, "ballast_feedback_signed_error", "Sum of (predicted - true) over feedback rows."
        )
        signed.add_metric(model, feedback.signed_error)
        yield from (absolute, squared, signed)

    def _groups(self, groups: GroupCounts) -> Iterator[Metric]:
        model, feature, labels = self.model, groups.folding.feature, groups.folding.labels
        classes = [str(label) for label in groups.classes]
        predictions = self._family(
            CounterMetricFamily,
            "ballast_fairness_prediction",
            "Predictions by group of the sensitive feature and predicted class.",
            ("feature", "group", "predicted_class"),
        )
        for g, group in enumerate(labels):
            for p, predicted in enumerate(classes):
                predictions.add_metric([*model, feature, group, predicted], int(groups.predictions[g, p]))
        feedback = self._family(
            CounterMetricFamily,
            "ballast_fairness_feedback",
            "Feedback rows by group of the sensitive feature, true and predicted class.",
            ("feature", "group", "true_class", "predicted_class"),
        )
        for g, group in enumerate(labels):
            for t, true_label in enumerate(self.feedback.true_class_labels):
                for p, predicted in enumerate(classes):
                    feedback.add_metric([*model, feature, group, true_label, predicted], int(groups.feedback[g, t, p]))
        yield from (predictions, feedback)


class ReferenceCollector(_ModelCollector):
    """Renders the reference (nothing of it when the training snapshot could not be read) and
    what training measured on its test split."""

    def __init__(
        self,
        signature: ModelSignature,
        reference: Reference | None,
        measured: TrainingMeasurements | None = None,
        groups: GroupCounts | None = None,
    ) -> None:
        self.reference, self.measured, self.groups = reference, measured or TrainingMeasurements(), groups
        self.signature = signature
        self.model = [signature.name, signature.version]

    def collect(self) -> Iterator[Metric]:
        if self.reference is not None:
            yield from self._reference(self.reference)
        yield from self._measured(self.measured)

    def _measured(self, measured: TrainingMeasurements) -> Iterator[Metric]:
        model = self.model
        fairness = self._family(
            GaugeMetricFamily,
            "ballast_reference_fairness",
            "Training's fairness difference on its test split, by sensitive feature and metric.",
            ("feature", "metric", "positive_class"),
        )
        if measured.sensitive_feature and measured.positive_class is not None:
            for metric, value in measured.fairness.items():
                fairness.add_metric([*model, measured.sensitive_feature, metric, measured.positive_class], value)
        folded = self._family(
            GaugeMetricFamily,
            "ballast_reference_fairness_folded_groups",
            "Groups of the sensitive feature folded into __other__ beyond the server's cap.",
            ("feature",),
        )
        if self.groups is not None:
            folded.add_metric([*model, self.groups.folding.feature], self.groups.folding.folded)
        rates = self._family(
            GaugeMetricFamily,
            "ballast_reference_class_error_rate",
            "Training's false positive and false negative rate of each class on its test split.",
            ("class", "rate"),
        )
        for label, by_kind in measured.error_rates.items():
            for kind, rate in by_kind.items():
                rates.add_metric([*model, label, kind], rate)
        yield from (fairness, folded, rates)

    def _reference(self, reference: Reference) -> Iterator[Metric]:
        model = self.model
        rows = self._family(GaugeMetricFamily, "ballast_reference_rows", "Rows of the training snapshot.")
        rows.add_metric(model, reference.rows)
        bins = self._family(
            GaugeMetricFamily,
            "ballast_reference_feature_bin_ratio",
            "Share of the training snapshot's present values in each feature bucket.",
            ("feature", "bin"),
        )
        for feature, ratios in reference.feature_bins.items():
            for label, ratio in ratios.items():
                bins.add_metric([*model, feature, label], ratio)
        missing = self._family(
            GaugeMetricFamily,
            "ballast_reference_feature_missing_ratio",
            "Share of the training snapshot's rows missing the feature.",
            ("feature",),
        )
        for feature, ratio in reference.feature_missing.items():
            missing.add_metric([*model, feature], ratio)
        predictions = self._family(
            GaugeMetricFamily,
            "ballast_reference_prediction_bin_ratio",
            "Share of the training target in each prediction bucket or class.",
            ("bin",),
        )
        for label, ratio in reference.prediction_bins.items():
            predictions.add_metric([*model, label], ratio)
        yield from (rows, bins, missing, predictions)


MAX_NEWEST_PARTS = 4
"""Newest parts whose reference a server keeps: one per policy choosing one, and few policies watch a model."""

NewestReader = Callable[[NewestPart], Reference]
"""Counts a newest part of the training snapshot into the reference's bins (ValueError when it cannot)."""


class NewestReferences:
    """The references of newest parts of the training snapshot, each counted on its first request
    (the operator asks once per version) and rendered like the whole snapshot's, with what
    training measured beside it."""

    def __init__(self, whole: ReferenceCollector, read: NewestReader | None) -> None:
        self._whole, self._read = whole, read
        self._kept: dict[NewestPart, bytes] = {}
        self._lock = threading.Lock()
        self._counting = threading.Lock()
        """One part counted at a time: whoever asks for many parts holds one snapshot in memory, not many."""

    def exposition(self, part: NewestPart) -> bytes:
        """ValueError when the snapshot cannot give this part (no such column, no dated row)."""
        if self._read is None:
            raise ValueError("no training snapshot to take a newest part of")
        kept = self._kept_text(part)
        if kept is not None:
            return kept
        with self._counting:
            kept = self._kept_text(part)  # counted while this request waited its turn
            if kept is not None:
                return kept
            whole = self._whole
            registry = CollectorRegistry(auto_describe=False)
            registry.register(ReferenceCollector(whole.signature, self._read(part), whole.measured, whole.groups))
            text = generate_latest(registry)
            with self._lock:
                if len(self._kept) >= MAX_NEWEST_PARTS:
                    self._kept.pop(next(iter(self._kept)))
                self._kept[part] = text
            return text

    def _kept_text(self, part: NewestPart) -> bytes | None:
        with self._lock:
            return self._kept.get(part)


class ServingMetrics:
    """A registry of its own (so tests can run several servers in one process)."""

    def __init__(
        self,
        signature: ModelSignature,
        collector: DriftCollector,
        reference: ReferenceCollector,
        newest: NewestReader | None = None,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.reference_registry = CollectorRegistry(auto_describe=False)
        self.reference_registry.register(reference)
        self.has_reference = reference.reference is not None
        self.newest = NewestReferences(reference, newest)
        self.signature = signature
        model = (signature.name, signature.version)
        self._requests = Counter(
            "ballast_serving_requests",
            "Requests by endpoint and status code.",
            [*MODEL_LABELS, "endpoint", "code"],
            registry=self.registry,
        )
        self._errors = Counter(
            "ballast_serving_request_errors",
            "Requests answered with a status code >= 400.",
            [*MODEL_LABELS, "endpoint", "code"],
            registry=self.registry,
        )
        latency = Histogram(
            "ballast_serving_request_duration_seconds",
            "Time to answer a request not refused with a 4xx, by endpoint.",
            [*MODEL_LABELS, "endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._latency = {endpoint: latency.labels(*model, endpoint) for endpoint in ENDPOINTS}
        self._model = model
        # Children resolved once per (endpoint, code): a label lookup per request is measurable.
        self._request_children: dict[tuple[str, int], tuple[Any, Any | None]] = {}
        self.registry.register(collector)

    def observe(self, endpoint: str, code: int, seconds: float) -> None:
        children = self._request_children.get((endpoint, code))
        if children is None:
            status = str(code)
            children = (
                self._requests.labels(*self._model, endpoint, status),
                self._errors.labels(*self._model, endpoint, status) if code >= 400 else None,
            )
            self._request_children[(endpoint, code)] = children
        children[0].inc()
        if children[1] is not None:
            children[1].inc()
        # A refusal is fast: counted in the latency, a flood of junk would hide a slow canary's p99.
        if not 400 <= code < 500:
            self._latency[endpoint].observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def reference_exposition(self) -> bytes:
        return generate_latest(self.reference_registry)
