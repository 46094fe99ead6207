"""wait_for polls through what may change by itself (an object not there yet, a conflict, an API
server restarting) and fails at once on what cannot: a bug in the condition, a refused request."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from kubernetes.client.exceptions import ApiException

from tests.support.kube import wait_for


def failing_then(errors: list[Exception], result: object) -> tuple[Callable[[], object], list[int]]:
    """A condition that raises each of errors in turn, then returns result; and its call count."""
    calls = [0]

    def condition() -> object:
        calls[0] += 1
        if calls[0] <= len(errors):
            raise errors[calls[0] - 1]
        return result

    return condition, calls


@pytest.mark.parametrize(
    "not_yet",
    [
        AssertionError("kubectl get dataset daily failed (1): NotFound"),
        ApiException(status=404, reason="Not Found"),
        ApiException(status=409, reason="Conflict"),
        ApiException(status=429, reason="Too Many Requests"),
        ApiException(status=503, reason="Service Unavailable"),
        IndexError("list index out of range"),
    ],
    ids=lambda error: f"{type(error).__name__}-{getattr(error, 'status', '')}",
)
def test_what_may_change_by_itself_is_waited_through(not_yet):
    condition, calls = failing_then([not_yet, not_yet], {"ready": True})
    assert wait_for(condition, timeout=5, interval=0.01) == {"ready": True}
    assert calls[0] == 3


@pytest.mark.parametrize(
    "real",
    [
        TypeError("'NoneType' object is not subscriptable"),
        KeyError("status"),
        ApiException(status=403, reason="Forbidden"),
        ApiException(status=422, reason="Unprocessable Entity"),
        ApiException(status=400, reason="Bad Request"),
    ],
    ids=lambda error: f"{type(error).__name__}-{getattr(error, 'status', '')}",
)
def test_a_real_error_is_raised_at_once_not_after_the_timeout(real):
    condition, calls = failing_then([real], {"ready": True})
    started = time.monotonic()
    with pytest.raises(type(real)) as raised:
        wait_for(condition, timeout=30, interval=0.01)
    assert raised.value is real
    assert calls[0] == 1
    assert time.monotonic() - started < 5


def test_the_timeout_names_what_was_awaited_and_the_last_error():
    condition, _ = failing_then([ApiException(status=404, reason="Not Found")] * 1000, None)
    with pytest.raises(AssertionError, match=r"(?s)timed out after 0.2s waiting for the dataset .*Not Found"):
        wait_for(condition, timeout=0.2, interval=0.01, message="the dataset")


def test_a_falsy_result_is_waited_through_until_the_timeout():
    with pytest.raises(AssertionError, match="timed out after 0.1s waiting for nothing"):
        wait_for(lambda: [], timeout=0.1, interval=0.01, message="nothing")
