"""Read which Python types a skops archive would build, without building anything, and check
them against Ballast's list.

skops describes every object in `schema.json` as a node that opens with `"__class__"` and
`"__module__"`, in that order. The operator must not parse that JSON: a
model's schema.json is tens of MB (a gradient boosting of 1,500 trees: 30 MB), and JSON made
of empty lists takes twenty times its size in memory, so a 24 KiB deflated schema.json took
the operator to 689 MiB. So the schema is scanned as a stream of bytes for those node headers,
with memory bounded by one chunk whatever the schema's size, and anything that mentions one of
the two keys outside a well-formed header is refused: a node cannot hide from the scan by
reordering, escaping or splitting its keys. skops's own full parse, and its own type check,
happen where the model is loaded (skops_format.load_model), in the pods.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from collections.abc import Iterable
from typing import BinaryIO

from ballast.models.archive import ArchiveLimits, member_chunks, open_archive
from ballast.models.errors import ArtifactTooLarge, ModelArtifactError, NotASkopsArtifact, UntrustedArtifact
from ballast.models.trusted_types import ARTIFACT_TYPES

SCHEMA_FILE = "schema.json"
# A gradient boosting of 1,500 trees writes 30 MB; scanning is streamed, so this bounds time only.
MAX_SCHEMA_BYTES = 64 << 20
# Ballast's list has about 80 types; an archive naming more is refused before it fills memory.
MAX_DISTINCT_TYPES = 256
MAX_NAME_BYTES = 256

_SPACE = rb"\s{0,4096}"
_NAME = rb'"([^"\\]{1,%d})"' % MAX_NAME_BYTES
# `__loader__` follows, at once or (for a node rebuilt with __reduce__) after its arguments
NODE_HEADER = re.compile(
    rb'"__class__"'
    + _SPACE
    + b":"
    + _SPACE
    + _NAME
    + _SPACE
    + b","
    + _SPACE
    + rb'"__module__"'
    + _SPACE
    + b":"
    + _SPACE
    + _NAME
    + _SPACE
    + b"[,}]"
)
CLASS_KEY, MODULE_KEY = b'"__class__"', b'"__module__"'
CLASS_KEYS = re.compile(re.escape(CLASS_KEY))
PROTOCOL = re.compile(rb'"protocol"' + _SPACE + b":" + _SPACE + b"-?[0-9]")
# json.dumps never escapes printable ASCII, so `\u005f` is someone spelling a key around the scan
ESCAPED_ASCII = re.compile(rb"\\u00(?:[2-6][0-9a-fA-F]|7[0-9a-eA-E])")
ROOT = re.compile(_SPACE + rb"\{" + _SPACE + rb'(?="__class__")')
# longer than any header, so a header that starts before the last OVERLAP bytes of a buffer is whole
OVERLAP = 64 << 10
LAYOUT = (
    "the artifact's schema.json is not laid out as skops.io.dump writes it "
    "(every node opens with __class__ and __module__)"
)


class _Scan:
    """Literal searches (fast in `re` and `bytes`) find the keys; a header is matched only where
    a `"__class__"` key starts, and every `"__module__"` key must belong to one."""

    def __init__(self) -> None:
        self.types: set[str] = set()
        self.protocol = False
        self.started = False

    def take(self, buffer: bytes, final: bool) -> int:
        """Reads the keys that start in buffer's settled part; returns where the next buffer starts."""
        if not self.started and (final or len(buffer) >= OVERLAP):
            if not ROOT.match(buffer):
                raise NotASkopsArtifact(
                    "the artifact's schema.json lacks the root node skops writes "
                    "(__class__, __module__); save the model with skops.io.dump"
                )
            self.started = True
        settled = len(buffer) if final else len(buffer) - OVERLAP
        if settled <= 0:
            return 0
        resume, headers = settled, 0
        for key in CLASS_KEYS.finditer(buffer, 0, settled + len(CLASS_KEY) - 1):
            header = NODE_HEADER.match(buffer, key.start())
            if header is None:
                raise NotASkopsArtifact(LAYOUT)
            self._add(header)
            headers += 1
            resume = max(resume, header.end())
        # a header holds exactly one module key; any other one is a node the headers missed
        if buffer.count(MODULE_KEY, 0, resume + len(MODULE_KEY) - 1) != headers or ESCAPED_ASCII.search(
            buffer, 0, min(len(buffer), resume + 5)
        ):
            raise NotASkopsArtifact(LAYOUT)
        self.protocol = self.protocol or PROTOCOL.search(buffer) is not None
        return resume

    def _add(self, header: re.Match[bytes]) -> None:
        module, name = (part.decode("utf-8", "backslashreplace") for part in header.group(2, 1))
        self.types.add(f"{module}.{name}")
        if len(self.types) > MAX_DISTINCT_TYPES:
            raise UntrustedArtifact(
                f"the artifact names more than {MAX_DISTINCT_TYPES} types; Ballast's list has {len(ARTIFACT_TYPES)}"
            )


def scan_schema_types(chunks: Iterable[bytes]) -> frozenset[str]:
    """Every `module.Class` a node of the schema names, read from its chunks in order."""
    scan, buffer = _Scan(), b""
    for chunk in chunks:
        buffer += chunk
        buffer = buffer[scan.take(buffer, final=False) :]
    scan.take(buffer, final=True)
    if not scan.started:
        raise NotASkopsArtifact("the artifact's schema.json is empty")
    if not scan.protocol:
        raise NotASkopsArtifact("the artifact's schema.json has no skops protocol; save the model with skops.io.dump")
    return frozenset(scan.types)


def archive_types(handle: BinaryIO, limits: ArchiveLimits = ArchiveLimits()) -> frozenset[str]:
    """The types the skops archive in handle names, read within limits; NotASkopsArtifact for
    anything that is not a skops archive."""
    try:
        with open_archive(handle, limits) as archive:
            return scan_schema_types(member_chunks(archive, SCHEMA_FILE, MAX_SCHEMA_BYTES))
    except (ModelArtifactError, ArtifactTooLarge):
        raise
    except KeyError:
        raise NotASkopsArtifact(
            "the artifact is a zip without schema.json, so not a skops file; save the model with skops.io.dump"
        ) from None
    # a forged zip fails in zipfile in many ways (bad headers, CRC, an unknown compression, an
    # encrypted member): each means "not an archive Ballast reads", never a crash of the reader
    except (
        zipfile.BadZipFile,
        ValueError,
        EOFError,
        NotImplementedError,
        RuntimeError,
        OverflowError,
        OSError,
        zlib.error,
    ) as error:
        raise NotASkopsArtifact(f"the artifact is not a readable skops archive ({type(error).__name__})") from None


def untrusted(types: set[str] | frozenset[str], why: str) -> UntrustedArtifact:
    names = tuple(sorted(types))
    shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
    return UntrustedArtifact(
        f"the artifact holds types outside Ballast's trusted list ({why}): {shown}. "
        "Ballast loads only what its allow-listed estimators and preprocessing need",
        names,
    )


def check_listed_types(handle: BinaryIO, limits: ArchiveLimits = ArchiveLimits()) -> frozenset[str]:
    """Every type the archive names, after checking that each is on Ballast's list.

    Without skops: the operator runs this, and skops imports scikit-learn, SciPy and pandas,
    which would take the operator's memory from about 75 MiB to 240 MiB.
    `skops_format.load_model`, in the pods that build the model, adds skops's own check."""
    types = archive_types(handle, limits)
    outside = types - ARTIFACT_TYPES
    if outside:
        raise untrusted(outside, "not used by any allow-listed estimator")
    return types
