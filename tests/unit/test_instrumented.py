"""Each reconcile is timed into ballast_reconcile_duration_seconds by kind, and one that raises
is counted as ballast_reconciliations_total{result="error"} and still raises (the runner retries it)."""

from __future__ import annotations

import time

import kopf
import pytest
from prometheus_client import REGISTRY

from ballast.api.kinds import ALL_KINDS, DATASET, TRAINING_RUN
from ballast.handlers.instrumented import instrumented
from ballast.handlers.runner import TIMED, reconcile_and_apply


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


def test_every_kind_is_reconciled_through_its_own_instrumented_wrapper():
    for kind in ALL_KINDS:
        wrapper = TIMED[kind.kind]
        assert wrapper.__wrapped__ is reconcile_and_apply
        assert wrapper is not TIMED[DATASET.kind] or kind is DATASET, "each kind has its own labels"


def test_the_runner_counts_a_failing_reconcile_once_and_retries_it_later(monkeypatch):
    from ballast.handlers import runner
    from ballast.wakeups import ObjectKey
    from ballast.workqueue import WorkQueue

    body = {"apiVersion": "ballast.dev/v1alpha1", "kind": "Dataset", "metadata": {"name": "d", "namespace": "n"}}
    monkeypatch.setattr(runner.kube, "read_custom_object", lambda plural, namespace, name: body)

    def broken(*_, **__):
        raise RuntimeError("the store is not reachable")

    monkeypatch.setitem(runner.RECONCILERS, "Dataset", broken)
    queue: WorkQueue[ObjectKey] = WorkQueue()
    key = ObjectKey("Dataset", "n", "d")
    queue.add(key)
    errors = _errors("Dataset")
    worker = runner.Runner(queue, {}, reporter="test")
    worker.start(1)
    try:
        deadline = time.monotonic() + 5
        while _errors("Dataset") == errors and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _errors("Dataset") == errors + 1
        while queue.next_due_in(key) is None and time.monotonic() < deadline:
            time.sleep(0.01)  # the error is counted just before the runner queues the retry
        due_in = queue.next_due_in(key)
        assert due_in is not None and 0 < due_in <= runner.FIRST_RETRY_SECONDS
    finally:
        worker.stop(timeout=2)
