"""Credentials and endpoints for object stores, read from the environment a Secret fills.

A Kubernetes Secret with the keys AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and (for
S3-compatible servers) AWS_ENDPOINT_URL is mounted with `envFrom`. The artifact store reads
them unprefixed; a Dataset's objectStore source reads them with a prefix (the Job mounts the
source's Secret with `envFrom[].prefix: SOURCE_`), so the store and a source can use two
different accounts in one pod.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

SOURCE_ENV_PREFIX = "SOURCE_"


@dataclass(frozen=True)
class S3Options:
    access_key: str | None = None
    secret_key: str | None = None
    session_token: str | None = None
    endpoint_url: str | None = None
    region: str | None = None

    def __repr__(self) -> str:  # the secret must never reach a log or a termination message
        return (
            f"S3Options(access_key={'set' if self.access_key else None}, secret_key="
            f"{'set' if self.secret_key else None}, endpoint_url={self.endpoint_url!r}, region={self.region!r})"
        )


def s3_options_from_env(environ: Mapping[str, str], prefix: str = "") -> S3Options:
    """The S3 settings under `prefix` (e.g. "SOURCE_"), each one empty meaning unset."""

    def get(name: str) -> str | None:
        return environ.get(prefix + name) or None

    return S3Options(
        access_key=get("AWS_ACCESS_KEY_ID"),
        secret_key=get("AWS_SECRET_ACCESS_KEY"),
        session_token=get("AWS_SESSION_TOKEN"),
        endpoint_url=get("AWS_ENDPOINT_URL_S3") or get("AWS_ENDPOINT_URL"),
        region=get("AWS_REGION") or get("AWS_DEFAULT_REGION"),
    )


def has_any_s3_setting(environ: Mapping[str, str], prefix: str) -> bool:
    return any(value for value in vars(s3_options_from_env(environ, prefix)).values())
