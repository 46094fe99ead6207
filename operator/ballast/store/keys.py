"""Keys and URIs of the artifact store, as pure functions: no file is touched here.

A *key* is the store-relative name of an object, such as
`datasets/credit/<sha256>/data.parquet`. A *URI* is the same object's absolute name,
such as `file:///var/lib/ballast/datasets/...` or `s3://bucket/prefix/datasets/...`:
URIs go into status and metadata, keys are what code composes.

Keys are deliberately narrow: '/'-separated segments of letters, digits, '.', '_' and '-',
none starting with '.', so
- `..`, `.`, empty segments, absolute paths and backslashes are refused outright instead
  of being normalised (normalising would turn a hostile key into a plausible one);
- no key ever needs percent-encoding in a URI;
- the store's own temporary files (which start with '.') can never collide with a key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from ballast.store.errors import ArtifactOutsideStore

KEY_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
MAX_KEY_LENGTH = 1024


@dataclass(frozen=True)
class StoreRoot:
    """Where the store lives: a scheme and, below it, the root every key hangs from.

    `path` is what the scheme's filesystem calls the root: an absolute directory for
    `file` (`/var/lib/ballast`), `bucket/prefix` for object stores (`ballast/prod`).
    """

    scheme: str
    path: str

    @property
    def uri(self) -> str:
        return f"file://{self.path}" if self.scheme == "file" else f"{self.scheme}://{self.path}"


def parse_store_root(uri: str) -> StoreRoot:
    """The root a store URI names; trailing slashes are dropped, `..` is refused."""
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if not scheme or "://" not in uri:
        raise ValueError(
            f"the store root must be a URI such as file:///var/lib/ballast or s3://bucket/prefix, not {uri!r}"
        )
    if parts.query or parts.fragment:
        raise ValueError(f"the store root {uri!r} must not carry a query or a fragment")
    if scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise ValueError(f"a file:// store root needs an absolute path (file:///var/lib/ballast), not {uri!r}")
        path = parts.path.rstrip("/") or "/"
    else:
        if not parts.netloc:
            raise ValueError(f"the store root {uri!r} names no bucket")
        path = (parts.netloc + parts.path).rstrip("/")
    if any(segment in ("..", ".") for segment in path.split("/")):
        raise ValueError(f"the store root {uri!r} must not contain '.' or '..' segments")
    return StoreRoot(scheme=scheme, path=path)


def validate_key(key: str) -> str:
    """The key itself when it is a safe store-relative name; ArtifactOutsideStore otherwise."""
    if not isinstance(key, str) or not key:
        raise ArtifactOutsideStore(f"an artifact key must be a non-empty string, not {key!r}")
    if len(key) > MAX_KEY_LENGTH:
        raise ArtifactOutsideStore(f"artifact key longer than {MAX_KEY_LENGTH} characters: {key[:64]!r}...")
    if key.startswith("/"):
        raise ArtifactOutsideStore(f"artifact key {key!r} is absolute; keys are relative to the store root")
    for segment in key.split("/"):
        if segment in ("..", "."):
            raise ArtifactOutsideStore(f"artifact key {key!r} contains a {segment!r} segment")
        if not KEY_SEGMENT.match(segment):
            raise ArtifactOutsideStore(
                f"artifact key {key!r} has the segment {segment!r}; segments are letters, digits, "
                "'.', '_' and '-', not starting with '.'"
            )
    return key


def join_key(*segments: str) -> str:
    """A key from its segments, each checked (so a name with a '/' cannot add a level)."""
    for segment in segments:
        if "/" in segment:
            raise ArtifactOutsideStore(f"key segment {segment!r} contains '/'")
    return validate_key("/".join(segments))


def uri_for_key(root: StoreRoot, key: str) -> str:
    return f"{root.uri.rstrip('/')}/{validate_key(key)}"


def key_for_uri(root: StoreRoot, uri: str) -> str:
    """The key of a URI inside this store; ArtifactOutsideStore for any other scheme, bucket or prefix."""
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if "://" not in uri or scheme != root.scheme:
        raise ArtifactOutsideStore(f"{uri!r} is not a {root.scheme}:// URI of the store {root.uri}")
    if parts.query or parts.fragment:
        raise ArtifactOutsideStore(f"{uri!r} carries a query or fragment; artifact URIs do not")
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ArtifactOutsideStore(f"{uri!r} names the host {parts.netloc!r}; file URIs of the store name none")
        path = parts.path
    else:
        path = parts.netloc + parts.path
    prefix = root.path.rstrip("/") + "/"
    if not path.startswith(prefix):
        raise ArtifactOutsideStore(f"{uri!r} is outside the store root {root.uri}")
    return validate_key(path[len(prefix) :])


def is_uri(key_or_uri: str) -> bool:
    return "://" in key_or_uri


def resolve_key(root: StoreRoot, key_or_uri: str) -> str:
    """Accepts either form, so callers can pass what status or metadata recorded."""
    return key_for_uri(root, key_or_uri) if is_uri(key_or_uri) else validate_key(key_or_uri)
