"""The artifact store: write-once, content-addressed objects under one root URI.

    store = ArtifactStore("file:///var/lib/ballast")            # the shared PVC (default)
    store = ArtifactStore.from_env()                            # BALLAST_STORE_URI + AWS_* env
    uri = store.write_json_once("datasets/credit/<sha>/metadata.json", {...})
    store.read_json(uri); store.sha256_of(uri); store.verify_sha256(uri, expected)

Every method takes a key (store-relative) or a URI (as recorded in status or metadata); both
are resolved and checked to stay inside the root before anything is touched.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, BinaryIO, Protocol

from ballast.store.appends import AppendDecision
from ballast.store.credentials import s3_options_from_env
from ballast.store.errors import DigestMismatch, StoreError, StoreUnavailable
from ballast.store.keys import StoreRoot, parse_store_root, resolve_key, uri_for_key
from ballast.store.local import LocalBackend
from ballast.store.objects import StoredObject
from ballast.store.remote import FsspecBackend, filesystem_for
from ballast.store.streams import iter_chunks, read_capped, sha256_of_stream

DEFAULT_STORE_URI = "file:///var/lib/ballast"
STORE_URI_ENV = "BALLAST_STORE_URI"


@contextmanager
def reading(uri: str) -> Iterator[None]:
    """An I/O error in the middle of reading an artifact (network, a server-side checksum
    mismatch) as StoreUnavailable, which the operator reports; not a bare OSError."""
    try:
        yield
    except StoreError:
        raise
    except OSError as error:
        raise StoreUnavailable(f"reading {uri} failed: {error}") from error


@contextmanager
def writing(uri: str) -> Iterator[None]:
    """A write the filesystem refuses (full, read-only, permissions) as StoreUnavailable, as
    `reading` does for reads: the runtimes report store failures by their reason, and a bare
    OSError would pass for a crash of the trainer or the ingest."""
    try:
        yield
    except StoreError:
        raise
    except OSError as error:
        raise StoreUnavailable(f"writing {uri} failed: {error}") from error


class Backend(Protocol):
    def exists(self, key: str) -> bool: ...
    def open_read(self, key: str) -> BinaryIO: ...
    def size(self, key: str) -> int: ...
    def write_once(self, key: str, chunks: Iterable[bytes]) -> bool: ...
    def list(self, prefix: str) -> Iterator[StoredObject]: ...
    def directories(self, prefix: str) -> list[str]: ...
    def delete(self, key: str) -> bool: ...
    def append(self, key: str, decide: AppendDecision, tail_bytes: int) -> bool: ...


def canonical_json_bytes(document: Any) -> bytes:
    """JSON as the store writes it: sorted keys, so the same document is the same bytes
    (write-once compares bytes) and no NaN or Infinity (they are not JSON)."""
    return (json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode()


class ArtifactStore:
    def __init__(
        self,
        root_uri: str = DEFAULT_STORE_URI,
        *,
        backend: Backend | None = None,
        environ: Mapping[str, str] | None = None,
        **storage_options: Any,
    ) -> None:
        """`storage_options` go to fsspec for schemes other than file and s3; s3 credentials
        come from `environ` (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL, AWS_REGION)."""
        self.root: StoreRoot = parse_store_root(root_uri)
        self.backend: Backend = backend or self._backend_for(self.root, environ, storage_options)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ArtifactStore:
        environ = os.environ if environ is None else environ
        return cls(environ.get(STORE_URI_ENV) or DEFAULT_STORE_URI, environ=environ)

    @staticmethod
    def _backend_for(root: StoreRoot, environ: Mapping[str, str] | None, storage_options: dict[str, Any]) -> Backend:
        if root.scheme == "file":
            return LocalBackend(root.path)
        s3 = s3_options_from_env(os.environ if environ is None else environ)
        return FsspecBackend(filesystem_for(root.scheme, s3, **storage_options), root.path)

    @property
    def uri(self) -> str:
        return self.root.uri

    def key(self, key_or_uri: str) -> str:
        """The checked store-relative key of a key or a URI (ArtifactOutsideStore otherwise)."""
        return resolve_key(self.root, key_or_uri)

    def uri_of(self, key_or_uri: str) -> str:
        return uri_for_key(self.root, self.key(key_or_uri))

    # --- reading -------------------------------------------------------------------------

    def exists(self, key_or_uri: str) -> bool:
        return self.backend.exists(self.key(key_or_uri))

    def open(self, key_or_uri: str) -> BinaryIO:
        """A binary file object for reading; ArtifactNotFound when there is nothing."""
        return self.backend.open_read(self.key(key_or_uri))

    def size(self, key_or_uri: str) -> int:
        return self.backend.size(self.key(key_or_uri))

    def read_bytes(self, key_or_uri: str, max_bytes: int | None = None) -> bytes:
        """The whole object in memory: only for what is small or must be whole (a model a pod
        loads). With max_bytes, ArtifactTooLarge once more than that was read."""
        uri = self.uri_of(key_or_uri)
        with self.open(key_or_uri) as handle, reading(uri):
            return read_capped(handle, max_bytes, uri)

    def read_json(self, key_or_uri: str, max_bytes: int | None = None) -> Any:
        return json.loads(self.read_bytes(key_or_uri, max_bytes))

    def sha256_of(self, key_or_uri: str, max_bytes: int | None = None) -> str:
        """The sha256 of the stored bytes, streamed (artifacts may not fit in memory); with
        max_bytes, ArtifactTooLarge as soon as more than that was read."""
        uri = self.uri_of(key_or_uri)
        with self.open(key_or_uri) as handle, reading(uri):
            return sha256_of_stream(handle, max_bytes, uri)

    def verify_sha256(self, key_or_uri: str, expected: str, max_bytes: int | None = None) -> None:
        """DigestMismatch unless the stored bytes have the expected sha256 (ArtifactTooLarge
        when there are more than max_bytes of them: never hashed to the end)."""
        actual = self.sha256_of(key_or_uri, max_bytes)
        if actual != expected.strip().lower():
            raise DigestMismatch(self.uri_of(key_or_uri), expected, actual)

    def list(self, prefix: str = "") -> list[StoredObject]:
        """Every object under the key prefix (a directory: `datasets/credit`), sorted by key;
        the store's own temporary files and anything that is not a valid key are left out."""
        checked = self.key(prefix) if prefix else ""
        uri = uri_for_key(self.root, checked) if checked else self.uri
        with reading(uri):
            return sorted(self.backend.list(checked), key=lambda stored: stored.key)

    def directories(self, prefix: str = "") -> list[str]:
        """The names of the directories directly under the key prefix, sorted: one level, never
        the objects below (`ballast gc --all-namespaces` finds the namespaces' parts this way)."""
        checked = self.key(prefix) if prefix else ""
        with reading(uri_for_key(self.root, checked) if checked else self.uri):
            return self.backend.directories(checked)

    # --- deleting (ballast gc and ballast erase only) ------------------------------------

    def delete(self, key_or_uri: str) -> bool:
        """Removes one object; False when there was none. The store is write-once for everyone
        else: only retention (`ballast gc`) and erasure (`ballast erase`) delete, and only keys
        they decided nothing references."""
        key = self.key(key_or_uri)
        with writing(uri_for_key(self.root, key)):
            return self.backend.delete(key)

    # --- appending (the audit log only) ---------------------------------------------------

    def append(self, key_or_uri: str, decide: AppendDecision, tail_bytes: int = 256 << 10) -> bool:
        """Appends what `decide` returns for the log's tail; False when it returned None. The one
        object of the store that grows: everything else is written once. On file:// the log is
        held by an exclusive lock while `decide` reads its tail and the bytes are appended, so two
        appenders cannot both extend the same end; on object stores it is rewritten whole, and
        only the operator's leader election keeps a second appender away (docs/audit.md)."""
        key = self.key(key_or_uri)
        with writing(uri_for_key(self.root, key)):
            return self.backend.append(key, decide, tail_bytes)

    # --- writing (once) ------------------------------------------------------------------

    def write_bytes_once(self, key_or_uri: str, data: bytes) -> str:
        """Writes the bytes and returns the URI. Identical bytes already there: a no-op;
        different bytes: ArtifactConflict. Nothing half-written ever appears under the key."""
        key = self.key(key_or_uri)
        with writing(uri_for_key(self.root, key)):
            self.backend.write_once(key, [bytes(data)])
        return uri_for_key(self.root, key)

    def write_stream_once(self, key_or_uri: str, source: BinaryIO) -> str:
        """As write_bytes_once, for content read from a file object (large artifacts)."""
        key = self.key(key_or_uri)
        with writing(uri_for_key(self.root, key)):
            self.backend.write_once(key, iter_chunks(source))
        return uri_for_key(self.root, key)

    def write_file_once(self, key_or_uri: str, local_path: str | os.PathLike[str]) -> str:
        with open(local_path, "rb") as source:
            return self.write_stream_once(key_or_uri, source)

    def write_json_once(self, key_or_uri: str, document: Any) -> str:
        return self.write_bytes_once(key_or_uri, canonical_json_bytes(document))
