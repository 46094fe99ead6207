"""What a request or the server's start-up can get wrong, each with the status or reason to report.

Request errors become the Open Inference Protocol's error body, `{"error": "<message>"}`,
with the status code carried here; start-up errors become the pod's termination message.
"""

from __future__ import annotations


class InferenceError(Exception):
    """A request the server refuses; `status` is the HTTP status code of the response."""

    status = 400


class BadRequest(InferenceError):
    """Malformed JSON, a wrong shape, a wrong datatype, a missing or unknown input."""


class ModelNotFound(InferenceError):
    status = 404


class StartupFailure(Exception):
    """The server cannot serve this model; `reason` is the condition reason the operator reports."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class Unauthorized(InferenceError):
    """Feedback without the bearer token this server was given."""

    status = 401


class FeedbackDisabled(InferenceError):
    """Feedback on a server that was given no token: refused, since anyone could send it."""

    status = 403


class IdInUse(InferenceError):
    """A client-chosen request id that a remembered response already has."""

    status = 409


class RequestTimeout(InferenceError):
    """The body did not arrive within the read deadline."""

    status = 408


class ClientClosedRequest(InferenceError):
    """The client closed the connection before its body arrived. Nobody reads the answer; the
    status (nginx's 499) is for the metrics: anyone on the pod network can open requests and drop
    them, and a canary's error rate counts 5xx as the server's own faults."""

    status = 499


class PayloadTooLarge(InferenceError):
    status = 413


class UnsupportedMediaType(InferenceError):
    """A body that is declared as something other than JSON, or compressed."""

    status = 415


class Busy(InferenceError):
    """Every turn for a large request stayed taken for the whole read deadline. A 429, not a 503:
    other clients can cause it (by sending large bodies slowly), and a canary's error rate counts
    5xx as the server's own faults."""

    status = 429
