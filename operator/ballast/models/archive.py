"""Opening a skops archive (a zip) without trusting what its headers claim.

A zip says how many members it has, how big each is unpacked and how big it is packed; all of
it is written by whoever made the file. `open_archive` checks those numbers against fixed
bounds before anything is unpacked (and the member count before zipfile builds one object per
member), and `member_chunks` reads a member counting the bytes it actually gets.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from ballast.models.errors import ArtifactTooLarge, NotASkopsArtifact, UnsafeArchive
from ballast.store.limits import DEFAULT_MAX_ARTIFACT_BYTES

ZIP_MAGIC = b"PK\x03\x04"
PICKLE_PROTOCOL_2_PLUS = b"\x80"
CHUNK = 1 << 20


@dataclass(frozen=True)
class ArchiveLimits:
    max_unpacked_bytes: int = DEFAULT_MAX_ARTIFACT_BYTES
    """All members together, unpacked: a model holds no more than the artifact cap."""
    max_members: int = 50_000
    """A gradient boosting of 1,500 trees has 6,000 members; zipfile keeps ~350 bytes per member."""
    max_central_directory_bytes: int = 16 << 20
    max_ratio: int = 200
    """Unpacked / packed for one member. Ballast's own archives are stored (ratio 1) and numeric
    arrays deflate by a few times; a deflate bomb reaches 1,000."""
    ratio_applies_above: int = 1 << 20
    """Small members may compress as well as they like: they cannot exhaust anything."""


def _central_directory(handle: BinaryIO) -> tuple[int, int]:
    """(members, central directory bytes) from the end-of-central-directory record, read before
    zipfile parses the directory: it builds a ZipInfo for every entry the record announces."""
    # zipfile's own reader of that record (zip64 included); private but unchanged since Python 2.
    record = zipfile._EndRecData(handle)  # type: ignore[attr-defined]
    if record is None:
        raise NotASkopsArtifact(
            "the artifact is not a zip archive (no end of central directory); save the model with skops.io.dump"
        )
    return int(record[zipfile._ECD_ENTRIES_TOTAL]), int(record[zipfile._ECD_SIZE])  # type: ignore[attr-defined]


def check_declared_sizes(archive: zipfile.ZipFile, limits: ArchiveLimits) -> None:
    unpacked = 0
    for info in archive.infolist():
        unpacked += info.file_size
        if info.file_size > limits.ratio_applies_above and info.file_size > limits.max_ratio * max(
            info.compress_size, 1
        ):
            raise UnsafeArchive(
                f"a member of the archive unpacks {info.file_size // max(info.compress_size, 1)} "
                f"times its packed size, more than the {limits.max_ratio} a model needs (a zip bomb)"
            )
    if unpacked > limits.max_unpacked_bytes:
        raise ArtifactTooLarge(f"the archive unpacked ({unpacked} bytes)", limits.max_unpacked_bytes)


def open_archive(handle: BinaryIO, limits: ArchiveLimits = ArchiveLimits()) -> zipfile.ZipFile:
    """The zip in handle (seekable, read from where needed), after its headers were bounded."""
    handle.seek(0)
    magic = handle.read(len(ZIP_MAGIC))
    if magic.startswith(PICKLE_PROTOCOL_2_PLUS):
        raise NotASkopsArtifact(
            "the artifact is a Python pickle (or a joblib file); Ballast never unpickles, "
            "because loading a pickle runs arbitrary code. "
            "Save the model with skops.io.dump instead"
        )
    if magic != ZIP_MAGIC:
        raise NotASkopsArtifact(
            "the artifact is not a skops file (a zip archive with schema.json); save the model with skops.io.dump"
        )
    members, directory_bytes = _central_directory(handle)
    if members > limits.max_members:
        raise UnsafeArchive(f"the archive has {members} members, more than the {limits.max_members} a model needs")
    if directory_bytes > limits.max_central_directory_bytes:
        raise UnsafeArchive(
            f"the archive's central directory is {directory_bytes} bytes, more than the "
            f"{limits.max_central_directory_bytes} a model needs"
        )
    handle.seek(0)
    archive = zipfile.ZipFile(handle)
    try:
        check_declared_sizes(archive, limits)
    except BaseException:
        archive.close()
        raise
    return archive


def member_chunks(archive: zipfile.ZipFile, name: str, max_bytes: int) -> Iterator[bytes]:
    """The unpacked bytes of one member; ArtifactTooLarge past max_bytes, whatever the header said."""
    read = 0
    with archive.open(name) as member:
        while chunk := member.read(CHUNK):
            read += len(chunk)
            if read > max_bytes:
                raise ArtifactTooLarge(f"the archive's {name}", max_bytes)
            yield chunk
