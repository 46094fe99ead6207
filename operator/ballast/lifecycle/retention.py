"""Retention: which version directories of a namespace's store `ballast gc` deletes.

A directory is deleted only when all of these hold, each a named check in `KEEP_CHECKS`:
nothing references it (ballast.lifecycle.references), it is not among the `keep_versions`
newest of its Dataset (or model), and it is older than `older_than` when that is given. So a
version an ingest or a training is writing right now (newest, and young) is never a candidate,
and a directory whose age the store does not report is kept when an age is asked for.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ballast.lifecycle.references import ReferenceSet, VersionDirectory, directory_of_key
from ballast.store.objects import StoredObject

DEFAULT_KEEP_VERSIONS = 10
"""As a Dataset's default versionHistoryLimit: what status lists is also what the store keeps."""

REFERENCED = "Referenced"
RECENT_VERSION = "WithinKeepVersions"
TOO_YOUNG = "YoungerThanRetention"
AGE_UNKNOWN = "AgeUnknown"
UNREFERENCED = "Unreferenced"


@dataclass(frozen=True)
class Retention:
    keep_versions: int = DEFAULT_KEEP_VERSIONS
    """The newest this many versions of each Dataset and of each model are kept, referenced or not."""
    older_than: timedelta | None = None
    """Only directories last written longer ago than this are deleted."""

    def __post_init__(self) -> None:
        if self.keep_versions < 1:
            raise ValueError("keep_versions must be at least 1: the newest version may still be being written")


@dataclass(frozen=True)
class VersionFiles:
    """One version directory of the store and the files in it: what gc deletes or keeps (not
    ballast.lifecycle.stored_version's StoredVersion, which is a pinned version read back)."""

    directory: VersionDirectory
    objects: tuple[StoredObject, ...]

    @property
    def written(self) -> datetime | None:
        """When the newest of its objects was written; None when the store gave no time."""
        times = [stored.modified for stored in self.objects]
        return None if any(t is None for t in times) or not times else max(t for t in times if t)

    @property
    def size(self) -> int:
        return sum(stored.size for stored in self.objects)


@dataclass(frozen=True)
class Decision:
    version: VersionFiles
    delete: bool
    reason: str
    detail: str = ""


def stored_versions(objects: Iterable[StoredObject]) -> list[VersionFiles]:
    """The store's objects grouped by version directory; objects outside any are not gc's."""
    grouped: dict[VersionDirectory, list[StoredObject]] = defaultdict(list)
    for stored in objects:
        directory = directory_of_key(stored.key)
        if directory is not None:
            grouped[directory].append(stored)
    return [VersionFiles(d, tuple(sorted(o, key=lambda s: s.key))) for d, o in sorted(grouped.items())]


@dataclass(frozen=True)
class Context:
    references: ReferenceSet
    retention: Retention
    now: datetime
    rank: dict[VersionDirectory, int]
    """0 for the newest version of its Dataset or model."""


KeepCheck = Callable[[VersionFiles, Context], tuple[str, str] | None]


def referenced(version: VersionFiles, context: Context) -> tuple[str, str] | None:
    who = context.references.referrers.get(version.directory)
    return (REFERENCED, ", ".join(who)) if who else None


def among_newest(version: VersionFiles, context: Context) -> tuple[str, str] | None:
    rank = context.rank[version.directory]
    if rank < context.retention.keep_versions:
        return RECENT_VERSION, f"number {rank + 1} of the newest {context.retention.keep_versions}"
    return None


def old_enough(version: VersionFiles, context: Context) -> tuple[str, str] | None:
    if context.retention.older_than is None:
        return None
    written = version.written
    if written is None:
        return AGE_UNKNOWN, "the store gives no time for it"
    if context.now - written < context.retention.older_than:
        return TOO_YOUNG, f"written {written.isoformat()}"
    return None


KEEP_CHECKS: tuple[KeepCheck, ...] = (referenced, among_newest, old_enough)


def _ranks(versions: list[VersionFiles]) -> dict[VersionDirectory, int]:
    """Newest first within each Dataset or model; a version without a time counts as newest."""
    by_owner: dict[tuple[str, str], list[VersionFiles]] = defaultdict(list)
    for version in versions:
        by_owner[(version.directory.kind, version.directory.name)].append(version)
    ranks: dict[VersionDirectory, int] = {}
    for owned in by_owner.values():
        newest_first = [v for v in owned if v.written is None] + sorted(
            (v for v in owned if v.written is not None), key=lambda v: v.written or datetime.min, reverse=True
        )
        for rank, version in enumerate(newest_first):
            ranks[version.directory] = rank
    return ranks


def plan_gc(
    versions: list[VersionFiles], references: ReferenceSet, retention: Retention, now: datetime
) -> list[Decision]:
    context = Context(references=references, retention=retention, now=now, rank=_ranks(versions))
    decisions = []
    for version in versions:
        kept = next((found for check in KEEP_CHECKS if (found := check(version, context))), None)
        decisions.append(
            Decision(version, delete=False, reason=kept[0], detail=kept[1])
            if kept
            else Decision(version, delete=True, reason=UNREFERENCED)
        )
    return decisions
