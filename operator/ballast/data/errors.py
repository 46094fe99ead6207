"""Failures of reading a Dataset's source, and the refusal to hand out an invalid version.

Invalid *data* is not an error (it is a result with violations); these are the cases where
there is no data to judge, or where a caller asked for a version it must not use. Each type
carries `reason`, the CamelCase word for a condition or an Event.
"""

from __future__ import annotations


class SourceError(Exception):
    """The source could not be read at all (network, permissions, ...)."""

    reason = "SourceUnavailable"


class SourceNotFound(SourceError):
    """Nothing at the source's address (HTTP 404, no such file or object)."""

    reason = "SourceNotFound"


class SourceTooLarge(SourceError):
    """The source is larger than the ingest is allowed to read."""

    reason = "SourceTooLarge"


class SourceUnreadable(SourceError):
    """The bytes are there but are not a table in the declared format."""

    reason = "SourceUnreadable"


class SourceOutsideVolume(SourceError):
    """A pvc path that would resolve outside the mounted volume (.., absolute, symlink)."""

    reason = "SourceOutsideVolume"


class InvalidDatasetVersion(Exception):
    """The version exists but was recorded as invalid: it is never used for training."""

    reason = "InvalidDatasetVersion"

    def __init__(self, uri: str, violations: list[str]) -> None:
        shown = "; ".join(violations[:5]) + (f"; and {len(violations) - 5} more" if len(violations) > 5 else "")
        super().__init__(f"{uri} is an invalid dataset version: {shown or 'no reasons recorded'}")
        self.violations = violations
