"""A model card in the store: card.md and card.json beside the artifact, pinned by metadata.json.

    models/<model>/<sha256>/model.skops | metadata.json | card.md | card.json

The training pod writes both files once (write-once, as the artifact) before metadata.json,
which records their sha256 under `card`; readers (`ballast card`, the model server) refuse
bytes that are not the recorded ones."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from ballast.cards.content import ModelCard
from ballast.cards.markdown import render_markdown
from ballast.store import ArtifactConflict, ArtifactStore, canonical_json_bytes
from ballast.store.errors import ArtifactNotFound, DigestMismatch

CARD_MARKDOWN_FILE = "card.md"
CARD_JSON_FILE = "card.json"
CARD_FILES = {"markdown": CARD_MARKDOWN_FILE, "json": CARD_JSON_FILE}
MAX_CARD_BYTES = 1024 * 1024
"""A card is a few KiB; the cap bounds what a planted file can make a reader hold."""


def card_bytes(card: ModelCard) -> dict[str, bytes]:
    """The card's files by kind (`markdown`, `json`), as they are stored."""
    return {"markdown": render_markdown(card).encode(), "json": canonical_json_bytes(card.to_json())}


def sibling_key(artifact_key: str, file: str) -> str:
    return artifact_key.rsplit("/", 1)[0] + "/" + file


def _write_once(store: ArtifactStore, key: str, data: bytes) -> dict[str, str]:
    """Writes the file and returns its record; a card already there from an earlier training
    of the same artifact is kept (write-once), and its own sha256 recorded."""
    try:
        uri = store.write_bytes_once(key, data)
        return {"uri": uri, "sha256": hashlib.sha256(data).hexdigest()}
    except ArtifactConflict:
        return {"uri": store.uri_of(key), "sha256": store.sha256_of(key, MAX_CARD_BYTES)}


def write_card(store: ArtifactStore, artifact_key: str, card: ModelCard) -> dict[str, dict[str, str]]:
    """Writes card.md and card.json beside the artifact; returns metadata.json's `card` record:
    {"markdown": {"uri", "sha256"}, "json": {"uri", "sha256"}}."""
    return {
        kind: _write_once(store, sibling_key(artifact_key, CARD_FILES[kind]), data)
        for kind, data in card_bytes(card).items()
    }


def read_card(store: ArtifactStore, artifact_uri: str, metadata: Mapping[str, Any], kind: str = "markdown") -> bytes:
    """The card file beside the artifact, verified against the sha256 its metadata.json records.
    Always the file beside the artifact, whatever URI the record names: a record cannot send a
    reader elsewhere in the store. ArtifactNotFound when the version has no card (trained before
    cards were written, or the file is gone); DigestMismatch when the bytes are not the recorded ones."""
    card = metadata.get("card")
    record = card.get(kind) if isinstance(card, Mapping) else None
    if not isinstance(record, Mapping) or not isinstance(record.get("sha256"), str):
        raise ArtifactNotFound(f"the metadata.json beside {artifact_uri} records no model card ({kind})")
    key = sibling_key(store.key(artifact_uri), CARD_FILES[kind])
    data = store.read_bytes(key, MAX_CARD_BYTES)
    actual = hashlib.sha256(data).hexdigest()
    if actual != record["sha256"].lower():
        raise DigestMismatch(store.uri_of(key), record["sha256"], actual)
    return data
