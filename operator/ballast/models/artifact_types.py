"""Read which Python types a skops archive would build, without building anything.

skops describes every object in `schema.json` as a node with `__module__` and `__class__`. This
module parses that JSON (plain `json.loads`, no imports, no pickle) so Ballast can compare the
types against its own list before skops constructs a single object.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from ballast.models.errors import NotASkopsArtifact

SCHEMA_FILE = "schema.json"
# A model's schema.json is a few MB at most; a bigger one is a zip bomb or not a model.
MAX_SCHEMA_BYTES = 64 * 1024 * 1024
PICKLE_PROTOCOL_2_PLUS = b"\x80"


def _describe_non_skops(data: bytes) -> str:
    if data[:1] == PICKLE_PROTOCOL_2_PLUS:
        return ("the artifact is a Python pickle (or a joblib file); Ballast never unpickles, "
                "because loading a pickle runs arbitrary code. Save the model with skops.io.dump instead")
    return "the artifact is not a skops file (a zip archive with schema.json); save the model with skops.io.dump"


def read_skops_schema(data: bytes) -> dict[str, Any]:
    """The parsed schema.json of a skops archive; NotASkopsArtifact for anything else."""
    if not data.startswith(b"PK\x03\x04"):
        raise NotASkopsArtifact(_describe_non_skops(data))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            info = archive.getinfo(SCHEMA_FILE)
            if info.file_size > MAX_SCHEMA_BYTES:
                raise NotASkopsArtifact(f"the artifact's schema.json is {info.file_size} bytes, "
                                        f"more than the {MAX_SCHEMA_BYTES} Ballast accepts")
            schema = json.loads(archive.read(info))
    except (zipfile.BadZipFile, KeyError, ValueError) as error:
        raise NotASkopsArtifact(f"{_describe_non_skops(data)} ({error})") from None
    if not isinstance(schema, dict):
        raise NotASkopsArtifact("the artifact's schema.json is not a JSON object")
    return schema


def referenced_types(schema: dict[str, Any]) -> frozenset[str]:
    """Every `module.Class` a node of the schema names, whatever skops itself trusts by default."""
    found: set[str] = set()
    pending: list[Any] = [schema]
    while pending:
        node = pending.pop()
        if isinstance(node, list):
            pending.extend(node)
        elif isinstance(node, dict):
            if "__loader__" in node:
                module, name = node.get("__module__"), node.get("__class__")
                if isinstance(module, str) and isinstance(name, str):
                    found.add(f"{module}.{name}")
                else:
                    # A node without a proper type name cannot be checked, so it cannot be trusted.
                    found.add(f"<malformed node {module!r}.{name!r}>")
            pending.extend(node.values())
    return frozenset(found)
