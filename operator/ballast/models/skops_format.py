"""Ballast's model file format: a deterministic skops archive, identified by its sha256.

Saving: `serialize_model` dumps a fitted estimator with skops and canonicalises the archive,
so the same model always gives the same bytes and the same digest.

Loading: `load_model` refuses before it parses anything unless the sha256 matches, refuses
anything that is not a skops archive (a pickle is never unpickled) or whose zip headers are out
of bounds, refuses any type outside Ballast's fixed lists in `trusted_types`, lets skops build
the object, and refuses it if a tree in it is not one scikit-learn could have built
(`tree_structure`), before anything predicts or trains with it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import skops.io

from ballast.models.artifact_types import check_listed_types, untrusted
from ballast.models.canonical_archive import canonicalize
from ballast.models.digest import sha256_hex, verify_sha256
from ballast.models.errors import NotASkopsArtifact, UntrustedArtifact
from ballast.models.tree_structure import check_model_structure
from ballast.models.trusted_types import SKOPS_TRUSTED_TYPES

ARTIFACT_FORMAT = "skops"
MODEL_FILE_NAME = "model.skops"


@dataclass(frozen=True)
class SerializedModel:
    data: bytes
    sha256: str
    format: str = ARTIFACT_FORMAT


def serialize_model(model: Any) -> SerializedModel:
    """The model as canonical skops bytes, with their sha256."""
    data = canonicalize(skops.io.dumps(model))
    return SerializedModel(data=data, sha256=sha256_hex(data))


def check_artifact_types(data: bytes) -> frozenset[str]:
    """Every type the archive names, after checking that Ballast trusts all of them, by its
    own list and by skops's."""
    types = check_listed_types(io.BytesIO(data))
    # skops decides what it trusts by itself; it must not need anything beyond our list either.
    try:
        needs_trust = set(skops.io.get_untrusted_types(data=data)) - SKOPS_TRUSTED_TYPES
    except Exception as error:  # noqa: BLE001 - skops raises what it likes on a forged schema.json
        raise NotASkopsArtifact(
            f"skops cannot read the artifact's schema.json: {type(error).__name__}: {error}"
        ) from None
    if needs_trust:
        raise untrusted(needs_trust, "not in Ballast's skops trusted types")
    return types


def load_model(data: bytes, expected_sha256: str) -> Any:
    """The model in `data`, built only after its digest and every type it names were checked."""
    verify_sha256(data, expected_sha256)
    check_artifact_types(data)
    try:
        # The list is Ballast's constant, never read from the artifact.
        model = skops.io.loads(data, trusted=sorted(SKOPS_TRUSTED_TYPES))
    except skops.io.exceptions.UntrustedTypesFoundException as error:  # pragma: no cover - checked above
        raise UntrustedArtifact(str(error)) from None
    except Exception as error:  # noqa: BLE001 - a forged schema.json of trusted types only
        raise NotASkopsArtifact(
            f"skops cannot build a model from the artifact: {type(error).__name__}: {error}"
        ) from None
    check_model_structure(model)
    return model
