"""Times each reconcile into ballast_reconcile_duration_seconds and counts the ones that raise.

A reconcile that returns is counted as changed or unchanged where its outcome is applied
(ballast.handlers.apply); one that raises never gets there, so it is counted here, as an error,
before the runner retries it (ballast.handlers.runner).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from ballast.api.kinds import KindInfo
from ballast.metrics import RECONCILE_SECONDS, RECONCILIATIONS

P = ParamSpec("P")
R = TypeVar("R")

ERROR = "error"
"""The `result` label of a reconcile that raised."""


def instrumented(kind: KindInfo) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorates the function that reconciles an object of this kind and applies the outcome."""

    def decorate(reconcile: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(reconcile)
        def timed(*args: P.args, **kwargs: P.kwargs) -> R:
            started = time.perf_counter()
            try:
                return reconcile(*args, **kwargs)
            except Exception:
                RECONCILIATIONS.labels(kind.kind, ERROR).inc()
                raise
            finally:
                RECONCILE_SECONDS.labels(kind.kind).observe(time.perf_counter() - started)

        return timed

    return decorate
