"""What an administrator allows the objects of a namespace to put into the pods Ballast starts,
as pure decisions over a spec and the operator's settings.

Each decision returns None (allowed) or a Refusal naming the field, and the reconciler turns a
refusal into a condition without creating any Job. The reasons live here and nowhere else.

- Custom images: a TrainingRun runs Ballast's own image unless the operator's settings allow
  others (off by default; then only images starting with an allowed prefix). A custom
  `command` needs the same permission, since it runs any code. A retraining run that a
  DriftPolicy's template describes is checked the same way when the operator creates it:
  the operator creates it itself, so this policy is the only gate.
- Dataset sources: a `pvc` source may name only a claim labelled DATASET_SOURCE_LABEL=true and
  never the store's own claim; an objectStore `secretRef` only a Secret labelled
  DATASET_CREDENTIALS_LABEL=true.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ballast.build.naming import DATASET_CREDENTIALS_LABEL, DATASET_SOURCE_LABEL
from ballast.settings import Settings

IMAGE_NOT_ALLOWED = "ImageNotAllowed"
"""A custom image or command the operator's settings do not allow."""
SOURCE_NOT_ALLOWED = "SourceNotAllowed"
"""A pvc or secretRef source that names an object not labelled for Ballast, or the store's claim."""

LABEL_TRUE = "true"
# an image reference goes on after a registry or repository prefix only with one of these
REFERENCE_SEPARATORS = ("/", ":", "@")


@dataclass(frozen=True)
class Refusal:
    reason: str
    field: str
    """The field of the object that asked for it, e.g. spec.image."""
    message: str


def image_allowed(image: str, settings: Settings) -> bool:
    """Ballast's own image always; any other only when custom images are on and it starts with an
    allowed prefix at a boundary ("registry/team" allows "registry/team/x:1", not "registry/teamx")."""
    if image == settings.image:
        return True
    if not settings.custom_images_enabled:
        return False
    return any(_starts_with_prefix(image, prefix) for prefix in settings.custom_image_prefixes)


def _starts_with_prefix(image: str, prefix: str) -> bool:
    if not image.startswith(prefix):
        return False
    return (
        image == prefix or prefix.endswith(REFERENCE_SEPARATORS) or image[len(prefix)].startswith(REFERENCE_SEPARATORS)
    )


def custom_image_refusal(spec: Mapping[str, Any], settings: Settings, *, field: str = "spec") -> Refusal | None:
    """Whether a TrainingRun spec (at `field`) may run its image and command."""
    image = spec.get("image")
    if image and not image_allowed(image, settings):
        why = (
            "custom images are not enabled on this Ballast installation"
            if not settings.custom_images_enabled
            else "the image does not start with any prefix the administrator allows"
        )
        return Refusal(IMAGE_NOT_ALLOWED, f"{field}.image", f"{field}.image {image[:256]!r} is refused: {why}")
    if spec.get("command") and not (
        settings.custom_images_enabled
        and image
        and any(_starts_with_prefix(image, p) for p in settings.custom_image_prefixes)
    ):
        return Refusal(
            IMAGE_NOT_ALLOWED,
            f"{field}.command",
            f"{field}.command is refused: a custom command needs custom images enabled and an image "
            "from an allowed prefix",
        )
    return None


@dataclass(frozen=True)
class SourceObjects:
    """The labels of what a Dataset's source names, as the operator read them: None when the
    object does not exist (or was not looked up)."""

    claim_labels: Mapping[str, str] | None = None
    secret_labels: Mapping[str, str] | None = None


def referenced_claim(source: Mapping[str, Any]) -> str | None:
    return (source.get("pvc") or {}).get("claimName")


def referenced_secret(source: Mapping[str, Any]) -> str | None:
    return ((source.get("objectStore") or {}).get("secretRef") or {}).get("name")


def source_refusal(source: Mapping[str, Any], found: SourceObjects, settings: Settings) -> Refusal | None:
    """Whether a Dataset's source may be mounted or injected into its ingest pod."""
    claim = referenced_claim(source)
    if claim:
        field = "spec.source.pvc.claimName"
        if claim == settings.store_claim:
            return Refusal(SOURCE_NOT_ALLOWED, field, f"{field} {claim!r} is the artifact store's own claim")
        if (found.claim_labels or {}).get(DATASET_SOURCE_LABEL) != LABEL_TRUE:
            return Refusal(
                SOURCE_NOT_ALLOWED,
                field,
                f"{field} {claim!r} is not a PersistentVolumeClaim labelled {DATASET_SOURCE_LABEL}={LABEL_TRUE}",
            )
    secret = referenced_secret(source)
    if secret:
        field = "spec.source.objectStore.secretRef.name"
        if (found.secret_labels or {}).get(DATASET_CREDENTIALS_LABEL) != LABEL_TRUE:
            return Refusal(
                SOURCE_NOT_ALLOWED,
                field,
                f"{field} {secret!r} is not a Secret labelled {DATASET_CREDENTIALS_LABEL}={LABEL_TRUE}",
            )
    return None
