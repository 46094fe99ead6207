"""The canonical sha256 of a table that arrives in slices: the identity of a partitioned version.

The v1 form (ballast.data.canonical) writes each column whole, with the row count first, so
it can only be hashed once the whole table is in memory. The v2 form hashes the same
sections, each on its own as the slices arrive, and then hashes the list of section digests:

    canonical-v2 := MAGIC2  u64(rows)  u32(number of columns)  column*
    MAGIC2       = b"ballast-table-v2\\n"
    column       = str(name)  str(tag)  [ u64(values)  sha(state)  sha(values)  sha(text lengths)
                                          u64(unreadable)  sha(unreadable lengths)  sha(unreadable) ]
    sha(section) = the 32-byte sha256 of the section's bytes as v1 defines them (for a number
                   column "text lengths" is empty), bracket absent when tag = "missing"

So the digest depends on the coerced values, their order, the column names and declared
types (the schema) exactly as v1 does, and on nothing else: not on how the rows are split
into files or batches, nor on the files' format or compression. It differs from the v1 digest
of the same table (it is another form); metadata.json records which form a version used.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field

from ballast.data.canonical import ColumnSections, column_sections, encoded_string
from ballast.data.coerce import CoercedTable
from ballast.data.overlap import BackgroundLane

MAGIC_V2 = b"ballast-table-v2\n"
CANONICAL_FORM_V2 = "ballast-table-v2"


@dataclass
class _ColumnDigest:
    tag: str
    state: hashlib._Hash = field(default_factory=hashlib.sha256)
    values: hashlib._Hash = field(default_factory=hashlib.sha256)
    text_lengths: hashlib._Hash = field(default_factory=hashlib.sha256)
    unreadable_lengths: hashlib._Hash = field(default_factory=hashlib.sha256)
    unreadable: hashlib._Hash = field(default_factory=hashlib.sha256)
    value_count: int = 0
    unreadable_count: int = 0

    def update(self, sections: ColumnSections, unreadable_count: int) -> None:
        self.state.update(sections.state)
        self.values.update(sections.values)
        if sections.text_lengths is not None:
            self.text_lengths.update(sections.text_lengths)
        self.unreadable_lengths.update(sections.unreadable_lengths)
        self.unreadable.update(sections.unreadable)
        self.value_count += sections.value_count
        self.unreadable_count += unreadable_count

    def encoded(self, name: str) -> bytes:
        return b"".join(
            (
                encoded_string(name),
                encoded_string(self.tag),
                struct.pack("<Q", self.value_count),
                self.state.digest(),
                self.values.digest(),
                self.text_lengths.digest(),
                struct.pack("<Q", self.unreadable_count),
                self.unreadable_lengths.digest(),
                self.unreadable.digest(),
            )
        )


class StreamingCanonicalDigest:
    """Feed coerced slices in row order with `update`; `hexdigest` is the v2 sha256.

    Every slice must have the same columns (the same ones present, missing and extra), which
    the partitioned reader guarantees by refusing files whose columns differ from the first.
    """

    def __init__(self, column_order: list[str] | tuple[str, ...], lane: BackgroundLane | None = None) -> None:
        self.column_order = list(column_order)
        self.rows = 0
        self._columns: dict[str, _ColumnDigest] | None = None
        self._extras: list[str] = []
        self._lane = lane
        """If given, sha256 runs there (hashlib releases the GIL) while the caller goes on."""

    def update(self, table: CoercedTable) -> None:
        layout = [(column.name, column.type) for column in (*table.columns, *table.extras)]
        if self._columns is None:
            self._columns = {name: _ColumnDigest(tag) for name, tag in layout}
            self._extras = [column.name for column in table.extras]
        elif [(name, digest.tag) for name, digest in self._columns.items()] != layout:
            raise ValueError("a slice of the table has other columns than the first slice")
        work = [
            (self._columns[column.name], column_sections(column), len(column.unreadable_text))
            for column in (*table.columns, *table.extras)
        ]
        if self._lane is None:
            _absorb(work)
        else:
            self._lane.submit(_absorb, work)
        self.rows += table.rows

    def hexdigest(self) -> str:
        if self._lane is not None:
            self._lane.wait()
        columns = self._columns or {}
        ordered = self.column_order + self._extras
        digest = hashlib.sha256(MAGIC_V2 + struct.pack("<QI", self.rows, len(ordered)))
        for name in ordered:
            digest.update(
                columns[name].encoded(name) if name in columns else encoded_string(name) + encoded_string("missing")
            )
        return digest.hexdigest()


def _absorb(work: list[tuple[_ColumnDigest, ColumnSections, int]]) -> None:
    for digest, sections, unreadable_count in work:
        digest.update(sections, unreadable_count)
