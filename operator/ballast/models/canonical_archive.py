"""Make skops archives byte-for-byte reproducible.

`skops.io.dumps` is not deterministic across processes: it names every node and every array
file after `id(obj)` (a memory address), names raw byte blobs with `uuid4()`, and stamps each
zip entry with the wall-clock time. The same fitted model therefore hashes differently on
every run, which would break "same spec + same data + same seed -> same sha256".

`canonicalize` rewrites those three things and nothing else: ids become 1, 2, 3... in the order
they first appear in schema.json (so shared references stay shared, except plain JSON values,
whose sharing only reflects Python's object identity), files are renamed in the
same way, and every entry gets a fixed timestamp and mode. The result loads exactly like the
original, because skops only uses ids to match references inside one file.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import PurePosixPath
from typing import Any

SCHEMA_FILE = "schema.json"
JSON_NODE = "JsonNode"
"""skops's loader of values stored as JSON text (numbers, strings, booleans, None)."""
# The earliest time a zip entry can carry; any fixed value would do.
FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644 << 16
UNIX = 3


class _Renamer:
    """Assigns small sequential names to ids and files in order of first appearance."""

    def __init__(self, archive_names: set[str]) -> None:
        self._archive_names = archive_names
        # skops skips memoising a node whose __id__ is falsy, so numbering starts at 1.
        self.ids: dict[Any, int] = {}
        self.files: dict[str, str] = {}

    def rename(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.rename(item) for item in node]
        if not isinstance(node, dict):
            return node
        renamed: dict[str, Any] = {}
        for key, value in node.items():
            if key == "__id__" and isinstance(value, int) and not isinstance(value, bool):
                # A plain JSON value (a number, a flag) is shared only when two attributes happen to
                # hold one Python object (CPython reuses a function's equal constants); an
                # estimator rebuilt elsewhere (unpickled on another worker) holds two. Each gets
                # an id of its own, so the bytes follow the values, not their identities.
                shared_by_identity_only = node.get("__loader__") == JSON_NODE
                renamed[key] = self.ids.setdefault(
                    ("json", len(self.ids)) if shared_by_identity_only else value, len(self.ids) + 1
                )
            elif key == "file" and isinstance(value, str) and value in self._archive_names:
                suffix = PurePosixPath(value).suffix
                renamed[key] = self.files.setdefault(value, f"{len(self.files) + 1}{suffix}")
            else:
                renamed[key] = self.rename(value)
        return renamed


def _fixed_entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=FIXED_ZIP_TIME)
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = FILE_MODE
    info.create_system = UNIX
    return info


def canonicalize(archive: bytes) -> bytes:
    """The same skops archive with deterministic ids, file names, entry order and timestamps."""
    with zipfile.ZipFile(io.BytesIO(archive)) as source:
        names = set(source.namelist())
        renamer = _Renamer(names - {SCHEMA_FILE})
        schema = renamer.rename(json.loads(source.read(SCHEMA_FILE)))
        unreferenced = names - {SCHEMA_FILE} - set(renamer.files)
        if unreferenced:
            # An entry schema.json never names would keep its random name; refuse rather
            # than silently produce a file that hashes differently next time.
            raise ValueError(f"skops archive has entries schema.json does not reference: {sorted(unreferenced)}")
        blobs = {new: source.read(old) for old, new in renamer.files.items()}

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as target:
        for name, blob in blobs.items():
            target.writestr(_fixed_entry(name), blob)
        # skops writes schema.json with indent=2; keep its layout.
        target.writestr(_fixed_entry(SCHEMA_FILE), json.dumps(schema, indent=2))
    return out.getvalue()
