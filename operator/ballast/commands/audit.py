"""`ballast audit`: a model's (or a Dataset's) audit trail from the store, its chain verified."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ballast.audit.chain import Verification
from ballast.audit.entry import AuditEntry
from ballast.commands.tables import format_table
from ballast.reconcile.durations import parse_duration, parse_time

MESSAGE_WIDTH = 100
"""A table row's message is cut here; -o json has it whole."""


def parse_since(text: str, now: datetime) -> datetime:
    """An RFC 3339 time (2026-01-31T12:00:00Z), or a duration back from now (30m, 2h, 7d)."""
    if text.endswith("d") and text[:-1].isdigit():
        return now - timedelta(days=int(text[:-1]))
    try:
        return now - timedelta(seconds=parse_duration(text))
    except ValueError:
        pass
    try:
        moment = parse_time(text)
    except ValueError:
        raise ValueError(f"{text!r} is neither an RFC 3339 time nor a duration such as 2h or 7d") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def entries_since(entries: list[AuditEntry], since: datetime | None) -> list[AuditEntry]:
    if since is None:
        return entries
    return [entry for entry in entries if parse_time(entry.time) >= since]


def audit_table(entries: list[AuditEntry]) -> str:
    rows = [
        [
            str(entry.seq),
            entry.time,
            f"{entry.kind}/{entry.name}",
            entry.reason,
            (f"[approved by {entry.approved_by}] " if entry.approved_by else "") + entry.message[:MESSAGE_WIDTH],
        ]
        for entry in entries
    ]
    return format_table(["SEQ", "TIME", "OBJECT", "REASON", "MESSAGE"], rows)


def verdict_line(uri: str, verification: Verification) -> str:
    """What `ballast audit` ends with: the chain holds (and its head, to note elsewhere), or the first bad line."""
    if verification.ok:
        return f"verified: {len(verification.entries)} entries, head {verification.head}"
    return f"audit log {uri} is broken at line {verification.bad_line}: {verification.problem}"
