"""The backend for object stores and any other fsspec filesystem (s3://, gs://, memory://, ...).

An object store has no rename, but it has what a rename gives on disk: a PUT makes an
object appear whole or not at all. So the bytes are first spooled to a local temporary
file (hashing them on the way), then sent in one upload; a failure before the upload
leaves nothing behind under the key.

s3:// goes through pyarrow's S3 filesystem (wrapped as an fsspec filesystem) rather than
s3fs: pyarrow is already a dependency for Parquet, and s3fs brings botocore, whose pin of
python-dateutil < 3 conflicts with the kubernetes client Ballast uses.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, BinaryIO

import fsspec
from fsspec import AbstractFileSystem

from ballast.store.appends import AppendDecision, committed_length, whole_lines_tail
from ballast.store.credentials import S3Options
from ballast.store.errors import ArtifactConflict, ArtifactNotFound, StoreError, StoreUnavailable
from ballast.store.keys import KEY_SEGMENT, validate_key
from ballast.store.objects import StoredObject
from ballast.store.streams import CHUNK, sha256_of_stream

# Spooled writes stay in memory up to this size, then move to a temporary file.
SPOOL_IN_MEMORY = 64 << 20


def s3_filesystem(options: S3Options) -> AbstractFileSystem:
    """An fsspec filesystem for s3:// backed by pyarrow; path-style addressing for S3-compatible servers."""
    from fsspec.implementations.arrow import ArrowFSWrapper
    from pyarrow.fs import S3FileSystem

    settings: dict[str, Any] = {"region": options.region or "us-east-1"}
    if options.access_key:
        settings.update(access_key=options.access_key, secret_key=options.secret_key)
        if options.session_token:
            settings["session_token"] = options.session_token
    if options.endpoint_url:
        settings["endpoint_override"] = options.endpoint_url
        if options.endpoint_url.startswith("http://"):
            settings["scheme"] = "http"
    return ArrowFSWrapper(S3FileSystem(**settings))


def filesystem_for(scheme: str, s3: S3Options | None = None, **storage_options: Any) -> AbstractFileSystem:
    if scheme in ("s3", "s3a"):
        return s3_filesystem(s3 or S3Options())
    return fsspec.filesystem(scheme, **storage_options)


@contextmanager
def _store_errors(root_path: str) -> Iterator[None]:
    """Object-store failures (network, access denied) as StoreUnavailable, keeping not-found apart."""
    try:
        yield
    except (FileNotFoundError, IsADirectoryError, ArtifactNotFound, ArtifactConflict):
        raise
    except OSError as error:
        raise StoreUnavailable(f"the store {root_path} failed: {error}") from error


class FsspecBackend:
    def __init__(self, fs: AbstractFileSystem, root_path: str) -> None:
        self.fs = fs
        self.root_path = root_path.rstrip("/")

    def _path(self, key: str) -> str:
        return f"{self.root_path}/{key}"

    def exists(self, key: str) -> bool:
        with _store_errors(self.root_path):
            try:
                return bool(self.fs.isfile(self._path(key)))
            except FileNotFoundError:
                return False

    def open_read(self, key: str) -> BinaryIO:
        with _store_errors(self.root_path):
            try:
                return self.fs.open(self._path(key), "rb")
            except (FileNotFoundError, IsADirectoryError):
                raise ArtifactNotFound(f"no artifact {key!r} under {self.root_path}") from None

    def size(self, key: str) -> int:
        with _store_errors(self.root_path):
            try:
                return int(self.fs.size(self._path(key)))
            except FileNotFoundError:
                raise ArtifactNotFound(f"no artifact {key!r} under {self.root_path}") from None

    def write_once(self, key: str, chunks: Iterable[bytes]) -> bool:
        """Publishes the bytes under key; False when identical bytes were already there.

        Object stores offer no portable create-if-absent, so two writers racing on one key
        could both upload; content addressing makes their bytes the same, so the race is benign.
        """
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
            digest = hashlib.sha256()
            for chunk in chunks:
                digest.update(chunk)
                spool.write(chunk)
            new_digest = digest.hexdigest()
            if self.exists(key):
                with self.open_read(key) as existing:
                    existing_digest = sha256_of_stream(existing)
                if existing_digest != new_digest:
                    raise ArtifactConflict(
                        f"{key!r} already exists with different content (sha256 {existing_digest}, "
                        f"new {new_digest}); artifacts are written once and never rewritten"
                    )
                return False
            spool.seek(0)
            with _store_errors(self.root_path), self.fs.open(self._path(key), "wb") as out:
                shutil.copyfileobj(spool, out, CHUNK)
            return True

    def append(self, key: str, decide: AppendDecision, tail_bytes: int) -> bool:
        """An object cannot grow: the log is read whole and written back whole. Nothing here
        stops a second appender from writing in between (pyarrow's S3 filesystem offers no
        conditional PUT), so only the operator's leader appends (docs/audit.md)."""
        existing = b""
        if self.exists(key):
            with self.open_read(key) as handle, _store_errors(self.root_path):
                existing = handle.read()
        existing = existing[: committed_length(existing, len(existing))]
        addition = decide(whole_lines_tail(existing[-tail_bytes:], len(existing) <= tail_bytes))
        if addition is None:
            return False
        with _store_errors(self.root_path), self.fs.open(self._path(key), "wb") as out:
            out.write(existing + addition)
        return True

    def list(self, prefix: str) -> Iterator[StoredObject]:
        """Objects under the prefix; keys that are not valid store keys are left out."""
        top = self._path(prefix) if prefix else self.root_path
        with _store_errors(self.root_path):
            try:
                found = self.fs.find(top, detail=True)
            except FileNotFoundError:
                return
        for path, info in sorted(found.items()):
            if info.get("type", "file") != "file":
                continue
            key = path.lstrip("/")[len(self.root_path.lstrip("/")) :].lstrip("/")
            try:
                validate_key(key)
            except StoreError:  # not one of the store's keys
                continue
            yield StoredObject(key=key, size=int(info.get("size") or 0), modified=_modified(info))

    def directories(self, prefix: str) -> list[str]:
        """The prefixes directly under the prefix (an object store's "directories") whose names
        are key segments."""
        top = self._path(prefix) if prefix else self.root_path
        with _store_errors(self.root_path):
            try:
                found = self.fs.ls(top, detail=True)
            except FileNotFoundError:
                return []
        names = (
            str(info.get("name", "")).rstrip("/").rsplit("/", 1)[-1]
            for info in found
            if info.get("type") == "directory"
        )
        return sorted(name for name in names if KEY_SEGMENT.match(name))

    def delete(self, key: str) -> bool:
        if not self.exists(key):
            return False
        with _store_errors(self.root_path):
            self.fs.rm_file(self._path(key))
        return True


def _modified(info: dict[str, Any]) -> datetime | None:
    """fsspec filesystems name the time differently (mtime, LastModified, created)."""
    for field in ("mtime", "LastModified", "last_modified", "created"):
        value = info.get(field)
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, UTC)
    return None
