"""How much Ballast reads from one stored object: the one place for these defaults."""

from __future__ import annotations

DEFAULT_MAX_ARTIFACT_BYTES = 2 << 30
"""A model artifact larger than this is refused (ArtifactTooLarge); the chart's artifacts.maxBytes."""

MAX_METADATA_BYTES = 1 << 20
"""metadata.json beside an artifact holds metrics and lineage, a few KiB; the operator parses it,
and JSON can take twenty times its size in memory, so a bigger one is ignored."""

MAX_DATASET_JSON_BYTES = 16 << 20
"""A dataset version's profile.json and metadata.json: bins, counts and violations per column,
bigger than a model's metadata with many columns, still far below this."""

ARTIFACT_MAX_BYTES_ENV = "BALLAST_ARTIFACT_MAX_BYTES"
"""How the chart's artifacts.maxBytes reaches the operator and the serving pods."""

BINARY_SUFFIXES = {"": 1, "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40}


def parse_byte_quantity(text: str) -> int:
    """Bytes from a count or a Kubernetes binary quantity (`2Gi`), as the chart's values write them."""
    text = text.strip()
    number = text.rstrip("KMGTi")
    suffix = text[len(number) :]
    if not number.isdigit() or suffix not in BINARY_SUFFIXES or int(number) <= 0:
        raise ValueError(f"{text!r} is not a positive number of bytes (such as 2147483648 or 2Gi)")
    return int(number) * BINARY_SUFFIXES[suffix]
