"""The hash chain of an audit log, as pure functions over its bytes: where the next entry goes,
and whether every line is the one that was appended."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from pydantic import ValidationError

from ballast.audit.entry import GENESIS, AuditDraft, AuditEntry, digest_of, place


def _committed_lines(content: bytes) -> list[bytes]:
    """The log's whole lines; a last line without its newline is an append that never finished."""
    lines = content.split(b"\n")
    return lines[:-1]


def _parse(line: bytes) -> AuditEntry | None:
    try:
        return AuditEntry.model_validate(json.loads(line))
    except (ValueError, ValidationError):
        return None


def next_line(tail: bytes, draft: AuditDraft) -> bytes | None:
    """The line that appends the draft after the tail (the log's last whole lines), or None when
    an entry of the tail has the draft's id already: the decision was recorded before a crash
    kept its status from being written, and was made again."""
    lines = _committed_lines(tail)
    entries = [_parse(line) for line in lines]
    if any(entry is not None and entry.id == draft.id for entry in entries):
        return None
    if not lines:
        return place(draft, 1, GENESIS).line()
    last = entries[-1]
    if last is not None:
        return place(draft, last.seq + 1, last.digest).line()
    # the last line is not an entry (someone wrote over it): chain to its bytes and number on from
    # the last entry there is, so the log grows on and `ballast audit` names the bad line
    known = [(index, entry) for index, entry in enumerate(entries) if entry is not None]
    seq = known[-1][1].seq + len(lines) - known[-1][0] if known else len(lines) + 1
    return place(draft, seq, hashlib.sha256(lines[-1]).hexdigest()).line()


@dataclass(frozen=True)
class Verification:
    entries: list[AuditEntry]
    """The entries up to the first bad line (all of them when the chain holds)."""
    bad_line: int | None = None
    """The 1-based number of the first line that is not what was appended; None when none is."""
    problem: str = ""

    @property
    def ok(self) -> bool:
        return self.bad_line is None

    @property
    def head(self) -> str:
        """The last entry's digest: recorded elsewhere, it also vouches for the log's end."""
        return self.entries[-1].digest if self.entries else GENESIS


def verify(content: bytes) -> Verification:
    """Checks every line: it is an entry, it hashes to its own digest (an edit shows), it comes
    right after the one before (seq one more, prev that one's digest: a removal shows)."""
    entries: list[AuditEntry] = []
    prev, seq = GENESIS, 0
    for number, line in enumerate(_committed_lines(content), start=1):
        entry = _parse(line)
        if entry is None:
            return Verification(entries, number, "it is not an audit entry")
        if digest_of(entry.model_dump(by_alias=True)) != entry.digest:
            return Verification(entries, number, "it was changed: its fields no longer hash to its digest")
        if entry.seq != seq + 1:
            return Verification(entries, number, f"entry {entry.seq} follows entry {seq}: entries were removed")
        if entry.prev != prev:
            return Verification(entries, number, f"its prev hash is not entry {seq}'s digest: an entry was replaced")
        entries.append(entry)
        prev, seq = entry.digest, entry.seq
    return Verification(entries)
