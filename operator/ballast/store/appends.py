"""Appending to a log of whole lines, the one kind of object in the store that grows (the audit
trail): what both backends share."""

from __future__ import annotations

from collections.abc import Callable

AppendDecision = Callable[[bytes], "bytes | None"]
"""Given the log's tail (its last whole lines, at most tail_bytes of them), the bytes to append,
or None to append nothing. It runs while the writer holds the log, so the tail it read is
still the end when its bytes are appended."""


def committed_length(content_end: bytes, size: int) -> int:
    """How much of a log of `size` bytes, ending with `content_end`, is whole lines. An append
    is committed by its newline: a last line without one was cut short (its writer died in
    the middle of the write and never saw it succeed), so it is no entry and the next
    append writes over it."""
    if not content_end or content_end.endswith(b"\n"):
        return size
    cut = content_end.rfind(b"\n")
    if cut < 0:
        if len(content_end) < size:
            raise ValueError("a line longer than the tail read: not a log this store appends to")
        return 0
    return size - len(content_end) + cut + 1


def whole_lines_tail(tail: bytes, started_at_zero: bool) -> bytes:
    """The tail without its first, partial line (unless the tail starts at the log's start)."""
    if started_at_zero:
        return tail
    cut = tail.find(b"\n")
    return b"" if cut < 0 else tail[cut + 1 :]
