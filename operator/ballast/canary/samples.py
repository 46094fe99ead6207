"""Cumulative counters of one version, summed over its pods, and the window between two."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

INFER = "infer"


@dataclass(frozen=True)
class Sample:
    """What a version's pods had counted at one moment (monotonic counters, summed)."""

    requests: float = 0.0
    """Infer requests the server accepted or failed: 4xx (the client's fault) are left out, so a
    client sending junk can neither dilute the error rate nor make up the evidence a step needs."""
    server_errors: float = 0.0
    """Infer requests answered 5xx: the server's own faults."""
    latency_buckets: dict[float, float] = field(default_factory=dict)
    """le -> cumulative count of infer requests, as the histogram exports it."""
    feedback: float = 0.0
    feedback_correct: float = 0.0

    def to_status(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "serverErrors": self.server_errors,
            "feedback": self.feedback,
            "feedbackCorrect": self.feedback_correct,
            "latencyBuckets": {_le_key(le): count for le, count in sorted(self.latency_buckets.items())},
        }

    @classmethod
    def from_status(cls, document: dict[str, Any] | None) -> Sample:
        document = document or {}
        return cls(
            requests=document.get("requests", 0.0),
            server_errors=document.get("serverErrors", 0.0),
            feedback=document.get("feedback", 0.0),
            feedback_correct=document.get("feedbackCorrect", 0.0),
            latency_buckets={float(le): count for le, count in (document.get("latencyBuckets") or {}).items()},
        )


def _le_key(le: float) -> str:
    return "+Inf" if math.isinf(le) else repr(le)


def sample_from_scrapes(texts: list[str]) -> Sample:
    """Sum the infer traffic and feedback of every pod's /metrics text."""
    requests = errors = feedback = correct = 0.0
    buckets: dict[float, float] = {}
    for text in texts:
        for family in text_string_to_metric_families(text):
            for metric in family.samples:
                labels = metric.labels
                if metric.name == "ballast_serving_requests_total" and labels.get("endpoint") == INFER:
                    code = labels.get("code", "")
                    if not code.startswith("4"):
                        requests += metric.value
                    if code.startswith("5"):
                        errors += metric.value
                elif (
                    metric.name == "ballast_serving_request_duration_seconds_bucket" and labels.get("endpoint") == INFER
                ):
                    le = float(labels["le"])
                    buckets[le] = buckets.get(le, 0.0) + metric.value
                elif metric.name == "ballast_feedback_confusion_total":
                    feedback += metric.value
                    if labels.get("true_class") == labels.get("predicted_class"):
                        correct += metric.value
    return Sample(requests, errors, buckets, feedback, correct)


def window(now: Sample, start: Sample) -> Sample:
    """now - start. A counter that went down was reset (a pod restarted): then the window is
    taken from zero, which undercounts but never invents traffic."""

    def delta(a: float, b: float) -> float:
        return a - b if a >= b else a

    buckets = {le: delta(count, start.latency_buckets.get(le, 0.0)) for le, count in now.latency_buckets.items()}
    return Sample(
        delta(now.requests, start.requests),
        delta(now.server_errors, start.server_errors),
        buckets,
        delta(now.feedback, start.feedback),
        delta(now.feedback_correct, start.feedback_correct),
    )


def quantile(q: float, buckets: dict[float, float]) -> float | None:
    """A quantile from cumulative histogram buckets, interpolated as PromQL's histogram_quantile."""
    ordered = sorted(buckets.items())
    if not ordered or ordered[-1][1] <= 0:
        return None
    rank = q * ordered[-1][1]
    lower_le, lower_count = 0.0, 0.0
    for le, count in ordered:
        if count >= rank:
            if math.isinf(le):
                return lower_le  # beyond the largest finite bucket: its bound is all we know
            if count == lower_count:
                return le
            return lower_le + (le - lower_le) * (rank - lower_count) / (count - lower_count)
        lower_le, lower_count = le, count
    return ordered[-1][0]
