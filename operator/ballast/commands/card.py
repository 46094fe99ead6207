"""`ballast card <modelversion>`: print the version's model card from the store.

The card is the file beside the version's artifact (card.md, or card.json with `-o json`),
refused unless its bytes are the ones the version's metadata.json records. `ballast.cli`
imports this module at start-up, so everything beyond click is imported when the command runs.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

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


@click.command()
@click.argument("modelversion")
@click.option("--namespace", "-n", default=None, help="Namespace (the kubeconfig's when not given).")
@click.option(
    "--store",
    "store_uri",
    envvar="BALLAST_STORE_URI",
    required=True,
    help="The store's root URI as the operator has it; default $BALLAST_STORE_URI.",
)
@click.option(
    "--output",
    "-o",
    type=click.Choice(OUTPUT_KINDS),
    default="markdown",
    show_default=True,
    help="card.md or card.json.",
)
def card(modelversion: str, namespace: str | None, store_uri: str, output: str) -> None:
    """Print MODELVERSION's model card (data, pipeline, parameters, metrics, gates, champion, intended use)."""
    from ballast.api.kinds import MODEL_VERSION
    from ballast.commands import api
    from ballast.store import ArtifactStore, StoreError
    from ballast.store.layout import namespace_store_uri

    objects, namespace = api.custom_objects(), namespace or api.current_namespace()
    version = api.get(objects, namespace, MODEL_VERSION.plural, modelversion)
    if version is None:
        raise click.ClickException(f"ModelVersion {modelversion} not found in namespace {namespace}")
    try:
        store = ArtifactStore(namespace_store_uri(store_uri, namespace), environ=os.environ)
    except (ValueError, StoreError) as error:
        raise click.ClickException(f"unusable --store {store_uri!r}: {error}") from None
    try:
        click.echo(version_card(store, version, output).decode(), nl=False)
    except CardUnavailable as error:
        raise click.ClickException(str(error)) from None
