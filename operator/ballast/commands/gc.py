"""`ballast gc`: delete from a namespace's part of the store the version directories nothing
references and retention no longer keeps (ballast.lifecycle.retention). A dry run unless applied.

The store is listed before the live objects are read, so an object created meanwhile is seen;
a version written after the listing is not in it, so it cannot be deleted.

Each namespace is collected on its own, against its own part of the store (`<root>/<namespace>`)
and its own objects: what one namespace's objects record can neither keep nor delete another's
files, and a refusal in one namespace stops only that one (`--all-namespaces` goes on with the
rest and fails at the end).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ballast.api.common import DNS_LABEL_PATTERN
from ballast.api.kinds import ALL_PLURALS
from ballast.commands.tables import format_table
from ballast.lifecycle.objects import LiveObjects, live_objects
from ballast.lifecycle.references import ReferenceSet, referenced_directories
from ballast.lifecycle.retention import REFERENCED, Decision, Retention, VersionFiles, plan_gc, stored_versions
from ballast.reconcile.durations import parse_duration
from ballast.store import ArtifactStore
from ballast.store.layout import DATASETS, MODELS

NAMESPACE_NAME = re.compile(DNS_LABEL_PATTERN)
MAX_NAMESPACE_LENGTH = 63


class GcRefused(Exception):
    pass


def parse_retention_age(text: str) -> timedelta:
    """`30d`, or a Go-style duration as the API's fields take (`720h`, `90m`)."""
    if text.endswith("d") and text[:-1].isdigit():
        return timedelta(days=int(text[:-1]))
    return timedelta(seconds=parse_duration(text))


def read_live_objects(api: Any, namespace: str) -> LiveObjects:
    from ballast.commands.api import list_all

    return live_objects(*(list_all(api, namespace, plural) for plural in ALL_PLURALS))


def store_namespaces(root: ArtifactStore) -> list[str]:
    """The namespaces that have a part of the store: its top-level directories whose names a
    namespace can have (a filesystem's lost+found, say, is not one)."""
    return [name for name in root.directories() if len(name) <= MAX_NAMESPACE_LENGTH and NAMESPACE_NAME.match(name)]


def list_versions(store: ArtifactStore) -> list[VersionFiles]:
    return stored_versions([*store.list(DATASETS), *store.list(MODELS)])


def plan(
    store: ArtifactStore, versions: list[VersionFiles], objects: LiveObjects, retention: Retention, now: datetime
) -> tuple[list[Decision], ReferenceSet]:
    references = referenced_directories(objects, store.root)
    return plan_gc(versions, references, retention, now), references


def delete_version(store: ArtifactStore, version: VersionFiles) -> int:
    """metadata first: it is the version's commit marker, so a deletion cut short leaves files
    no reader takes for a complete version (and the next gc finishes them)."""
    ordered = sorted(
        version.objects, key=lambda stored: (not stored.key.rsplit("/", 1)[-1].startswith("metadata"), stored.key)
    )
    return sum(store.delete(stored.key) for stored in ordered)


def apply_plan(
    store: ArtifactStore,
    decisions: list[Decision],
    references: ReferenceSet,
    record: Callable[[Decision], None] = lambda _: None,
) -> list[str]:
    """`record` hears of each deletion before its files go (the audit trail)."""
    if references.outside:
        raise GcRefused(
            f"{len(references.outside)} recorded URIs are not inside {store.uri} (first: {references.outside[0]}); "
            "pass the store URI the operator uses (--store), nothing was deleted"
        )
    deleted = []
    for decision in decisions:
        if decision.delete and decision.version.directory not in references:
            record(decision)
            delete_version(store, decision.version)
            deleted.append(decision.version.directory.key)
    return deleted


def report(
    decisions: list[Decision],
    references: ReferenceSet,
    *,
    applied: bool,
    verbose: bool = False,
    refusal: str | None = None,
) -> str:
    """`refusal`: --apply was asked and refused (GcRefused), so the plan is reported as not done."""
    doomed = [d for d in decisions if d.delete]
    verb = "deleted" if applied and not refusal else "would delete"
    lines = []
    if doomed:
        lines.append(
            format_table(
                ["VERSION", "FILES", "BYTES", "WRITTEN"],
                [
                    [
                        d.version.directory.key,
                        str(len(d.version.objects)),
                        str(d.version.size),
                        d.version.written.isoformat() if d.version.written else "-",
                    ]
                    for d in doomed
                ],
            )
        )
    kept = [d for d in decisions if not d.delete]
    if verbose and kept:
        lines.append(
            format_table(["KEPT", "REASON", "DETAIL"], [[d.version.directory.key, d.reason, d.detail] for d in kept])
        )
    size = sum(d.version.size for d in doomed)
    referenced = sum(d.reason == REFERENCED for d in kept)
    lines.append(
        f"{verb} {len(doomed)} of {len(decisions)} versions ({size} bytes); "
        f"{referenced} kept as referenced, {len(kept) - referenced} kept by retention"
    )
    if refusal:
        lines.append(f"refused: {refusal}")
    elif references.outside:
        lines.append(
            f"warning: {len(references.outside)} recorded URIs are outside this store "
            f"(first: {references.outside[0]}); --apply refuses until --store is the operator's store"
        )
    if not applied and doomed:
        lines.append("dry run: nothing was deleted; pass --apply to delete")
    return "\n".join(lines)


def _recorder(audit: ArtifactStore | None, namespace: str, now: datetime) -> Callable[[Decision], None]:
    from ballast.audit.deletions import deletion_decision
    from ballast.audit.log import append
    from ballast.conditions import rfc3339
    from ballast.reasons import RETENTION_DELETED

    def record(decision: Decision) -> None:
        version = decision.version
        why = f"deleted {len(version.objects)} files ({version.size} bytes): {decision.reason} {decision.detail}"
        if audit is not None:
            append(audit, deletion_decision(namespace, version.directory, RETENTION_DELETED, why.strip(), rfc3339(now)))

    return record


@dataclass(frozen=True)
class NamespaceGc:
    """What `ballast gc` did in one namespace."""

    namespace: str
    report: str
    refusal: str | None = None
    """Why nothing was deleted although --apply asked (GcRefused), or None."""


def collect_namespace(
    namespace: str,
    store: ArtifactStore,
    read_objects: Callable[[], LiveObjects],
    retention: Retention,
    now: datetime,
    *,
    apply: bool,
    verbose: bool = False,
    audit: ArtifactStore | None = None,
) -> NamespaceGc:
    """One namespace's gc: `store` is its part of the store, `read_objects` reads its objects
    (called after the listing, see above). A refused apply reports the plan as a dry run. `audit`:
    the whole store, whose audit trails get an entry for each deletion."""
    versions = list_versions(store)
    decisions, references = plan(store, versions, read_objects(), retention, now)
    refusal = None
    if apply:
        try:
            apply_plan(store, decisions, references, _recorder(audit, namespace, now))
        except GcRefused as error:
            refusal = str(error)
    return NamespaceGc(
        namespace, report(decisions, references, applied=apply, verbose=verbose, refusal=refusal), refusal
    )
