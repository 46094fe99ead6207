"""Blocks: fixed ranges of row numbers over a snapshot's parts, independent of the parts' sizes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate

from ballast.api.trainingrun import DEFAULT_BLOCK_ROWS


@dataclass(frozen=True)
class Block:
    index: int
    start: int
    """The first row number (0-based over the whole snapshot, in part order)."""
    stop: int
    """One past the last row number."""

    @property
    def rows(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class PartRange:
    """The rows [start, stop) of one part file that belong to a block."""

    part: int
    start: int
    stop: int


def block_plan(part_rows: Sequence[int], block_rows: int = DEFAULT_BLOCK_ROWS) -> list[Block]:
    """Blocks of `block_rows` rows (the last may be shorter) over parts of these row counts."""
    if block_rows < 1:
        raise ValueError(f"block_rows must be positive, not {block_rows}")
    total = sum(part_rows)
    return [
        Block(index, start, min(start + block_rows, total)) for index, start in enumerate(range(0, total, block_rows))
    ]


def part_ranges(block: Block, part_rows: Sequence[int]) -> list[PartRange]:
    """Where the block's rows are: a range in each part it overlaps, in order."""
    ranges = []
    for part, (end, rows) in enumerate(zip(accumulate(part_rows), part_rows, strict=True)):
        begin = end - rows
        start, stop = max(block.start, begin), min(block.stop, end)
        if start < stop:
            ranges.append(PartRange(part, start - begin, stop - begin))
    return ranges
