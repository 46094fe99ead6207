"""The operator's log keeps what a person reads: failures and changes, not a line per watch event."""

from __future__ import annotations

import logging

import kopf
import pytest

from ballast.controller import RoutineHandlerSuccesses


@pytest.fixture
def kopf_log(caplog):
    objects = logging.getLogger("kopf.objects")
    routine = RoutineHandlerSuccesses()
    objects.addFilter(routine)
    caplog.set_level(logging.DEBUG, logger="kopf.objects")
    yield caplog
    objects.removeFilter(routine)


def _object_logger() -> logging.LoggerAdapter:
    # the adapter kopf's handlers log through (kopf._core.actions.execution: f"{handler} succeeded.")
    body = kopf.Body(
        {
            "apiVersion": "ballast.dev/v1alpha1",
            "kind": "DriftPolicy",
            "metadata": {"name": "p", "namespace": "n", "uid": "u"},
        }
    )
    return kopf.LocalObjectLogger(body=body, settings=kopf.OperatorSettings())


def test_handler_successes_are_dropped_and_everything_else_is_kept(kopf_log):
    logger = _object_logger()
    logger.info("Handler 'queue-datasets' succeeded.")
    logger.info("Handler 'pod_changed' succeeded.")
    logger.info("Deletion is processed: 1 succeeded; 0 failed.")
    logger.error("Handler 'queue-datasets' failed with an exception. Will retry.")
    logger.warning("Handler 'queue-datasets' succeeded.")  # not kopf's routine line: kept
    assert [(r.levelname, r.getMessage()) for r in kopf_log.records] == [
        ("INFO", "Deletion is processed: 1 succeeded; 0 failed."),
        ("ERROR", "Handler 'queue-datasets' failed with an exception. Will retry."),
        ("WARNING", "Handler 'queue-datasets' succeeded."),
    ]
