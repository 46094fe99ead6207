"""Reading a Dataset's source into a raw table: the only part of ingest that does I/O on the source.

- url: http or https, streamed to a temporary file through ballast.net.http: the egress
  policy (BALLAST_EGRESS_*, set on the ingest pod by the operator) refuses loopback,
  link-local, metadata and cluster addresses unless allowed; redirects only within the same
  scheme, host and port; a size limit (Content-Length first, the byte count always); an
  overall deadline besides the per-read one. Messages name the URL (redacted) and a status,
  never what the server answered.
- pvc: a path relative to where the claim is mounted in the ingest pod; `..`, absolute paths
  and symlinks that leave the volume are refused.
- objectStore: an s3:// (or gs://, az://) URI read through fsspec, with credentials from the
  source's Secret (env vars prefixed SOURCE_, see ballast.store.credentials) or, when the
  Job mounts none, the unprefixed AWS_* ones. Local schemes (file://, memory://) are refused:
  a Dataset must not be able to read the ingest pod's own files (its service-account token).
- inline: the rows of the spec itself.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Literal
from urllib.parse import urlsplit

import pandas as pd

from ballast.api.dataset import DatasetSpec, describe_source
from ballast.data.errors import SourceError, SourceNotFound, SourceOutsideVolume, SourceTooLarge
from ballast.data.tables import inline_frame, read_raw_table
from ballast.net.egress import EGRESS_DENIED, EgressDenied, EgressPolicy
from ballast.net.http import Deadline, DeadlineExceeded, FetchError, RedirectRefused, TooLarge, open_url, redact_url
from ballast.store.credentials import SOURCE_ENV_PREFIX, has_any_s3_setting, s3_options_from_env
from ballast.store.remote import filesystem_for
from ballast.store.streams import CHUNK

DEFAULT_PVC_MOUNT_ROOT = "/mnt/ballast-source"
DEFAULT_MAX_SOURCE_BYTES = 2 << 30
DEFAULT_TIMEOUT_SECONDS = 60.0
"""The longest wait for the server at any one moment."""
DEFAULT_DEADLINE_SECONDS = 1500.0
"""The whole download, however the server paces it (below the ingest Job's own deadline)."""
OBJECT_STORE_SCHEMES = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss"})


@dataclass(frozen=True)
class SourceSettings:
    pvc_mount_root: str = DEFAULT_PVC_MOUNT_ROOT
    """Where the ingest pod mounts the claim a pvc source names."""
    max_bytes: int = DEFAULT_MAX_SOURCE_BYTES
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    deadline_seconds: float = DEFAULT_DEADLINE_SECONDS
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    egress: EgressPolicy | None = None
    """What a url source may read; from `environ` (BALLAST_EGRESS_*) when None."""

    @property
    def egress_policy(self) -> EgressPolicy:
        return self.egress if self.egress is not None else EgressPolicy.from_env(self.environ)


@dataclass(frozen=True)
class RawTable:
    frame: pd.DataFrame
    description: dict[str, Any]
    """Where the data came from, for metadata.json (no credentials)."""


def read_source(spec: DatasetSpec, settings: SourceSettings) -> RawTable:
    source = spec.source
    description = describe_source(source)
    if source.inline is not None:
        return RawTable(inline_frame(source.inline.rows), description)
    if source.pvc is not None:
        path = resolve_pvc_path(settings.pvc_mount_root, source.pvc.path)
        _check_size(os.path.getsize(path), settings.max_bytes, description)
        return RawTable(read_raw_table(path, spec.format), description)
    with tempfile.TemporaryFile(prefix="ballast-source-") as spool:
        if source.url is not None:
            download_url(source.url, spool, settings)
        else:
            download_object(source.object_store.uri, spool, settings)
        spool.seek(0)
        return RawTable(read_raw_table(spool, spec.format), description)


def resolve_pvc_path(mount_root: str, relative_path: str, kind: Literal["file", "directory"] = "file") -> str:
    """The file's (or directory's) real path inside the mounted volume; SourceOutsideVolume if it would leave it."""
    if os.path.isabs(relative_path) or relative_path.startswith("\\"):
        raise SourceOutsideVolume(f"pvc path {relative_path!r} is absolute; it must be relative to the volume")
    if ".." in relative_path.replace("\\", "/").split("/"):
        raise SourceOutsideVolume(f"pvc path {relative_path!r} contains '..'")
    real_root = os.path.realpath(mount_root)
    real_path = os.path.realpath(os.path.join(real_root, relative_path))
    if not real_path.startswith(real_root.rstrip(os.sep) + os.sep):
        raise SourceOutsideVolume(f"pvc path {relative_path!r} resolves outside the volume (a symlink?)")
    if not (os.path.isfile if kind == "file" else os.path.isdir)(real_path):
        raise SourceNotFound(f"no {kind} {relative_path!r} in the volume mounted at {mount_root}")
    return real_path


class SourceRefused(SourceError):
    """The URL is one Ballast does not read (ballast.net.egress), or its server redirected
    to another scheme, host or port."""

    reason = EGRESS_DENIED


def download_url(url: str, out: BinaryIO, settings: SourceSettings) -> int:
    """Streams the body into `out`; the byte count. SourceNotFound on 404/410."""
    shown = redact_url(url)
    deadline = Deadline(settings.deadline_seconds, idle_seconds=settings.timeout_seconds)
    try:
        with open_url(url, settings.egress_policy, deadline, headers={"User-Agent": "ballast-ingest"}) as response:
            if response.status in (404, 410):
                raise SourceNotFound(f"HTTP {response.status} from {shown}")
            if not 200 <= response.status < 300:
                raise SourceError(f"HTTP {response.status} from {shown}")
            return response.copy_to(out, settings.max_bytes)
    except (EgressDenied, RedirectRefused) as error:
        raise SourceRefused(f"{shown}: {error}") from None
    except TooLarge as error:
        raise SourceTooLarge(f"{shown}: {error}") from None
    except DeadlineExceeded:
        raise SourceError(
            f"timed out reading {shown} (at most {settings.timeout_seconds:g}s without data, "
            f"{settings.deadline_seconds:g}s in all)"
        ) from None
    except FetchError as error:
        raise SourceError(f"cannot reach {shown}: {error}") from None


def download_object(uri: str, out: BinaryIO, settings: SourceSettings) -> int:
    shown = redact_url(uri)
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme not in OBJECT_STORE_SCHEMES:
        raise SourceError(
            f"objectStore URI {shown} has the scheme {scheme!r}; "
            f"only {', '.join(sorted(OBJECT_STORE_SCHEMES))} are read"
        )
    prefix = SOURCE_ENV_PREFIX if has_any_s3_setting(settings.environ, SOURCE_ENV_PREFIX) else ""
    fs = filesystem_for(scheme, s3_options_from_env(settings.environ, prefix))
    path = parts.netloc + parts.path
    try:
        _check_size(int(fs.size(path)), settings.max_bytes, {"uri": shown})
        with fs.open(path, "rb") as handle:
            return _copy_limited(handle, out, settings.max_bytes, shown)
    except FileNotFoundError:
        raise SourceNotFound(f"no object at {shown}") from None
    except PermissionError as error:
        raise SourceError(f"access denied to {shown}: {error}") from None
    except OSError as error:
        raise SourceError(f"cannot read {shown}: {error}") from None


def _copy_limited(source: Any, out: BinaryIO, max_bytes: int, shown: str) -> int:
    copied = 0
    while chunk := source.read(CHUNK):
        copied += len(chunk)
        if copied > max_bytes:
            raise SourceTooLarge(f"{shown} is larger than the limit of {max_bytes} bytes")
        out.write(chunk)
    return copied


def _check_size(size: int, max_bytes: int, where: dict[str, Any]) -> None:
    if size > max_bytes:
        place = next(iter(where.values()), "the source")
        raise SourceTooLarge(f"{place} has {size} bytes, more than the limit of {max_bytes}")
