"""Which NetworkPolicy to put back when one of Ballast's is deleted by hand: the one its owner
would get, built again from what the deleted object says about that owner.

A policy is put back only while its owner still exists as the very object it was made for
(same uid): one deleted by the garbage collector with its owner, or whose owner was replaced by
a namesake, stays deleted. The caller says which uid the owner has now (from its indexes: the
operator has no `get` on Ballast's kinds).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ballast.build.ingest_network_policy import build_ingest_network_policy
from ballast.build.naming import COMPONENT_LABEL, INGEST_COMPONENT, SERVING_COMPONENT
from ballast.build.serving import MODEL_LABEL
from ballast.build.serving_network_policy import build_serving_network_policy
from ballast.settings import Settings

OWNER_KINDS = {"Dataset": INGEST_COMPONENT, "ModelVersion": SERVING_COMPONENT}
"""The kind that owns each component's NetworkPolicy."""


def controller_reference(metadata: Mapping[str, Any]) -> dict[str, Any] | None:
    """The owner reference with controller: true (there is one at most), if it is a Ballast kind's."""
    return next(
        (
            dict(owner)
            for owner in metadata.get("ownerReferences") or []
            if owner.get("controller") and owner.get("kind") in OWNER_KINDS
        ),
        None,
    )


def restored_network_policy(
    deleted: dict[str, Any], owner_uid_now: str | None, settings: Settings
) -> dict[str, Any] | None:
    """The NetworkPolicy to apply in place of `deleted`, or None when it should stay deleted."""
    metadata = deleted["metadata"]
    owner = controller_reference(metadata)
    labels = metadata.get("labels") or {}
    component = labels.get(COMPONENT_LABEL)
    if (
        owner is None
        or not owner_uid_now
        or owner.get("uid") != owner_uid_now
        or OWNER_KINDS[owner["kind"]] != component
    ):
        return None
    owner_object = {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "metadata": {"name": owner["name"], "namespace": metadata["namespace"], "uid": owner["uid"]},
    }
    if component == INGEST_COMPONENT and settings.ingest_network_policy:
        return build_ingest_network_policy(owner_object, settings)
    if component == SERVING_COMPONENT and settings.serving_network_policy and labels.get(MODEL_LABEL):
        return build_serving_network_policy({**owner_object, "spec": {"model": labels[MODEL_LABEL]}}, settings)
    return None
