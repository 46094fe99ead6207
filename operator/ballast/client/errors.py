"""What the SDK raises: one exception per thing a caller can act on, each with a one-line message."""

from __future__ import annotations

from typing import Any

from ballast.kube_status import status_causes, status_message, status_reason


class BallastError(Exception):
    """Base of everything ballast.client raises."""


class ConfigError(BallastError):
    """No usable kubeconfig (or in-cluster service account) to reach a cluster with."""


class Unreachable(BallastError):
    """The API server did not answer (wrong address, cluster down, network)."""


class ApiError(BallastError):
    """The API server refused a request; status is its HTTP status."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


class NotFound(ApiError):
    """No such object (or the Ballast CRDs are not installed)."""


class AlreadyExists(ApiError):
    """create() of a name that is taken."""


class Conflict(ApiError):
    """Someone else owns the fields (apply without force), or the object changed meanwhile."""


class Forbidden(ApiError):
    """RBAC does not allow it (401 or 403)."""


class Invalid(ApiError):
    """The API server's schema or CEL rules refused the object (422); causes lists each field's."""

    def __init__(self, message: str, status: int, causes: list[str]):
        super().__init__(message, status)
        self.causes = causes


class WaitTimeout(BallastError):
    """wait_for() ran out of time; last is the object as last seen (None: it never existed)."""

    def __init__(self, message: str, last: Any):
        super().__init__(message)
        self.last = last


class WaitFailed(BallastError):
    """wait_for() saw the object fail for good (Stalled, Succeeded=False, stage Failed); it will
    not reach what was waited for without a change."""

    def __init__(self, message: str, last: Any):
        super().__init__(message)
        self.last = last


def error_from_response(status: int, body: str | bytes | None, what: str) -> ApiError:
    """The exception for an API server's refusal: `what` names the object ("Dataset iris in
    namespace ml"); the message is the server's own when its body is a Status."""
    message, causes = status_message(body), status_causes(body)
    if status == 404:
        return NotFound(f"{what} not found", status)
    if status in (401, 403):
        return Forbidden(f"forbidden: {message or what}", status)
    if status == 409:
        kind = AlreadyExists if status_reason(body) == "AlreadyExists" else Conflict
        return kind(message or f"{what}: conflict", status)
    if status == 422:
        return Invalid(message or f"{what} is invalid", status, causes)
    return ApiError(f"{what}: the API server answered {status}: {message}".rstrip(": "), status)
