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
