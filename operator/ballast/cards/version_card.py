"""A version's model card from the store, for `kubectl ballast card` (ballast.plugin) and the
tracking server's copy (ballast.tracking).

The card is the file beside the version's artifact (card.md, or card.json), refused unless its
bytes are the ones the version's metadata.json records. The store is imported only when a card is
read, so the CLI starts without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ballast.store import ArtifactStore

OUTPUT_KINDS = ("markdown", "json")


class CardUnavailable(Exception):
    """The version's card cannot be shown; the message says why."""


def version_card(store: ArtifactStore, version: dict, kind: str = "markdown") -> bytes:
    """The card of a ModelVersion (as the API returns it), verified against its metadata.json."""
    from ballast.cards.stored import read_card
    from ballast.store import METADATA_FILE, StoreError
    from ballast.store.limits import MAX_METADATA_BYTES

    name = version["metadata"]["name"]
    artifact_uri = version["spec"]["artifact"]["uri"]
    try:
        metadata = store.read_json(artifact_uri.rsplit("/", 1)[0] + "/" + METADATA_FILE, MAX_METADATA_BYTES)
        if (
            not isinstance(metadata, dict)
            or (metadata.get("artifact") or {}).get("sha256") != (version["spec"]["artifact"]["sha256"])
        ):
            raise CardUnavailable(f"the metadata.json beside {artifact_uri} does not describe {name}'s artifact")
        return read_card(store, artifact_uri, metadata, kind)
    except StoreError as error:
        raise CardUnavailable(f"no model card for ModelVersion {name} ({error.reason}): {error}") from None
    except ValueError as error:
        raise CardUnavailable(f"the metadata.json of ModelVersion {name} is not JSON: {error}") from None
