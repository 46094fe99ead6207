"""Read which Python types a skops archive would build, without building anything, and check
them against Ballast's list.

skops describes every object in `schema.json` as a node with `__module__` and `__class__`. This
module parses that JSON (plain `json.loads`, no imports, no pickle) so Ballast can compare the
types against its own list before skops constructs a single object.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from ballast.models.errors import NotASkopsArtifact, UntrustedArtifact
from ballast.models.trusted_types import ARTIFACT_TYPES

SCHEMA_FILE = "schema.json"
# A model's schema.json is a few MB at most; a bigger one is a zip bomb or not a model.
MAX_SCHEMA_BYTES = 64 * 1024 * 1024
PICKLE_PROTOCOL_2_PLUS = b"\x80"
# what skops.io.dump writes at the root of every schema.json, beside "protocol" (an int)
ROOT_NODE_KEYS = ("__loader__", "__module__", "__class__")


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


def untrusted(types: set[str] | frozenset[str], why: str) -> UntrustedArtifact:
    names = tuple(sorted(types))
    return UntrustedArtifact(
        f"the artifact holds types outside Ballast's trusted list ({why}): {', '.join(names)}. "
        "Ballast loads only what its allow-listed estimators and preprocessing need", names)


def check_listed_types(data: bytes) -> frozenset[str]:
    """Every type the archive names, after checking that each is on Ballast's list.

    Pure JSON, without skops: the operator runs this, and skops imports scikit-learn, SciPy
    and pandas, which would take the operator's memory from about 75 MiB to 240 MiB.
    `skops_format.load_model`, in the pods that build the model, adds skops's own check."""
    schema = read_skops_schema(data)
    if not all(isinstance(schema.get(key), str) for key in ROOT_NODE_KEYS) \
            or not isinstance(schema.get("protocol"), int):
        raise NotASkopsArtifact(f"the artifact's schema.json lacks the root node skops writes "
                                f"({', '.join(ROOT_NODE_KEYS)}, protocol); save the model with skops.io.dump")
    types = referenced_types(schema)
    outside = types - ARTIFACT_TYPES
    if outside:
        raise untrusted(outside, "not used by any allow-listed estimator")
    return types
