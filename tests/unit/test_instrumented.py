"""Each reconcile is timed into ballast_reconcile_duration_seconds by kind, and one that raises
is counted as ballast_reconciliations_total{result="error"} and still raises (kopf retries it)."""

from __future__ import annotations

import kopf
import pytest
from prometheus_client import REGISTRY

import ballast.handlers  # noqa: F401  registers every handler with kopf's default registry
from ballast.api.kinds import ALL_KINDS, DATASET, TRAINING_RUN
from ballast.handlers.instrumented import instrumented


def _observed(kind: str) -> float:
    return REGISTRY.get_sample_value("ballast_reconcile_duration_seconds_count", {"kind": kind}) or 0.0


def _errors(kind: str) -> float:
    return REGISTRY.get_sample_value("ballast_reconciliations_total", {"kind": kind, "result": "error"}) or 0.0


def test_a_reconcile_that_returns_is_timed_and_not_counted_as_an_error():
    @instrumented(DATASET)
    def reconcile(body: dict, **_) -> str:
        return body["metadata"]["name"]

    observed, errors = _observed("Dataset"), _errors("Dataset")
    assert reconcile(body={"metadata": {"name": "daily"}}, patch=None) == "daily"
    assert _observed("Dataset") == observed + 1
    assert _errors("Dataset") == errors


def test_a_reconcile_that_raises_is_timed_counted_as_an_error_and_raises_the_same_exception():
    retry = kopf.TemporaryError("the store is not reachable", delay=5)

    @instrumented(TRAINING_RUN)
    def reconcile(**_) -> None:
        raise retry

    observed, errors, other_errors = _observed("TrainingRun"), _errors("TrainingRun"), _errors("Dataset")
    with pytest.raises(kopf.TemporaryError) as raised:
        reconcile(body={})
    assert raised.value is retry
    assert _observed("TrainingRun") == observed + 1
    assert _errors("TrainingRun") == errors + 1
    assert _errors("Dataset") == other_errors


# the ids kopf gave each kind's reconcile handlers before they were instrumented
RECONCILE_IDS = {
    "Dataset": {"reconcile", "reconcile/spec"},
    "TrainingRun": {"reconcile", "reconcile/spec"},
    "ModelVersion": {"reconcile", "reconcile/spec", "reconcile/metadata.annotations"},
    "DriftPolicy": {"reconcile", "reconcile/spec"},
}


def test_every_kind_is_instrumented_and_keeps_the_handler_ids_kopf_persists_in_each_object():
    """kopf records handler progress under the handler's id: a wrapper that changed it would
    run every object's create handlers again after an upgrade."""
    registry = kopf.get_default_registry()
    for kind in ALL_KINDS:
        module = f"ballast.handlers.{kind.kind.lower()}"
        instrumented_ids = {
            handler.id
            for handler in registry._changing.get_all_handlers()
            if handler.fn.__module__ == module and hasattr(handler.fn, "__wrapped__")
        }
        assert instrumented_ids == RECONCILE_IDS[kind.kind], kind.kind
