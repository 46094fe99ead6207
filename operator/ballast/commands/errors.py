"""What a user command's failure is called, and its exit code: one line on stderr, no traceback.

The codes are documented in docs/cli.md; scripts tell a missing object from a refused request
by them, so a code, once given a meaning, keeps it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from enum import IntEnum
from typing import Any, TypeVar

import click

from ballast.kube_status import status_message


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    """The command ran and its answer is no: refused by the object's state, timed out, not reproduced."""
    USAGE = 2
    """Bad flags or arguments (click's own code)."""
    NO_KUBECONFIG = 3
    """No kubeconfig (and not in a pod), or the kubeconfig has no such context or is unusable."""
    UNREACHABLE = 4
    """The API server did not answer: refused, timed out, or TLS failed."""
    FORBIDDEN = 5
    """The API server refused the credentials (401) or the request (403, RBAC)."""
    NOT_FOUND = 6
    """The named object does not exist, or Ballast's CRDs are not installed."""


class CommandError(click.ClickException):
    """A failure shown as `error: <message>` and ended with its exit code."""

    def __init__(self, message: str, code: ExitCode = ExitCode.FAILED):
        super().__init__(message)
        self.exit_code = int(code)

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", file=file, err=file is None)


def _first_line(text: object) -> str:
    lines = str(text).strip().splitlines()
    return lines[0] if lines else ""


def _api_message(error: Any) -> str:
    """The Status message the API server put in the body (`... is forbidden: User ...`), else its reason."""
    return _first_line(status_message(getattr(error, "body", None)) or f"{error.status} {error.reason}")


def _unreachable_reason(error: BaseException) -> str:
    """urllib3's MaxRetryError says what the last try met (`HTTPSConnection(host=..., port=...):
    Failed to establish a new connection: [Errno 111] Connection refused`)."""
    return _first_line(getattr(error, "reason", None) or error)


def explain(error: BaseException) -> CommandError | None:
    """The one-line error for a failure reaching or asking the API server; None for any other
    failure (a bug shows its traceback)."""
    from kubernetes.client.exceptions import ApiException
    from kubernetes.config import ConfigException
    from urllib3.exceptions import HTTPError

    if isinstance(error, ConfigException):
        hint = " (set KUBECONFIG or pass --kubeconfig)" if "No configuration found" in str(error) else ""
        return CommandError(f"no usable kubeconfig: {_first_line(error)}{hint}", ExitCode.NO_KUBECONFIG)
    if isinstance(error, ApiException):
        if error.status in (401, 403):
            return CommandError(f"forbidden: {_api_message(error)}", ExitCode.FORBIDDEN)
        if error.status == 404:
            message = _api_message(error)
            if "could not find the requested resource" in message:
                message += " (are Ballast's CRDs installed?)"
            return CommandError(f"not found: {message}", ExitCode.NOT_FOUND)
        if not error.status:
            return CommandError(f"cannot reach the API server: {_first_line(error.reason)}", ExitCode.UNREACHABLE)
        return CommandError(f"the API server answered {_api_message(error)}", ExitCode.FAILED)
    if isinstance(error, HTTPError | ConnectionError | TimeoutError):
        return CommandError(f"cannot reach the API server: {_unreachable_reason(error)}", ExitCode.UNREACHABLE)
    return None


F = TypeVar("F", bound=Callable[..., Any])


def reports_cluster_errors(command: F) -> F:
    """Turns the failures `explain` knows into their one-line error and exit code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except click.ClickException:
            raise
        except Exception as error:
            explained = explain(error)
            if explained is None:
                raise
            raise explained from None

    return wrapper  # type: ignore[return-value]
