"""Deterministic names and Ballast's labels for the children the operator creates."""

from __future__ import annotations

import hashlib
from typing import Any

MAX_NAME = 63  # a DNS-1123 label: Jobs and their pods' job-name label must fit in one

MANAGED_BY = "ballast"
COMPONENT_LABEL = "app.kubernetes.io/component"
INSTANCE_LABEL = "app.kubernetes.io/instance"
SERVING_COMPONENT = "serving"
INGEST_COMPONENT = "ingest"
TRAINING_COMPONENT = "training"


def child_name(*parts: str, max_length: int = MAX_NAME) -> str:
    """parts joined by dashes; when too long, cut and suffixed with a short hash of the whole.

    The same parts always give the same name, so a restarted operator finds the child it
    created before instead of creating a second one.
    """
    name = "-".join(part for part in parts if part).lower()
    if len(name) <= max_length:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: max_length - len(digest) - 1].rstrip('-')}-{digest}"


def ballast_labels(*, component: str, instance: str, model: str | None = None) -> dict[str, str]:
    """Ballast's own labels. The parent's labels are never copied: Argo CD would then think
    it owns the child and prune it."""
    labels = {
        "app.kubernetes.io/name": "ballast",
        COMPONENT_LABEL: component,
        INSTANCE_LABEL: instance,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }
    if model:
        labels["ballast.dev/model"] = model
    return labels


def is_component(manifest: dict[str, Any], kind: str, component: str) -> bool:
    """Whether a manifest is of that kind and carries Ballast's label for that component."""
    return manifest["kind"] == kind and (manifest["metadata"].get("labels") or {}).get(COMPONENT_LABEL) == component


# What a namespace's owner puts on the objects a Dataset may use as its source: the operator
# mounts a claim or injects a Secret of the namespace only when it carries the label, so a
# user who may create Datasets cannot reach every claim and Secret of the namespace through one.
DATASET_SOURCE_LABEL = "ballast.dev/dataset-source"
"""On a PersistentVolumeClaim a `pvc` source may name, with the value "true"."""
DATASET_CREDENTIALS_LABEL = "ballast.dev/dataset-credentials"
"""On a Secret an objectStore source's `secretRef` may name, with the value "true"."""
