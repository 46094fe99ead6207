"""The artifact store's PersistentVolumeClaim in a namespace where Ballast runs pods."""

from __future__ import annotations

from ballast.build.naming import ballast_labels
from ballast.settings import Settings


def build_store_claim(namespace: str, settings: Settings) -> dict:
    spec = {
        # every Ballast pod of the namespace mounts it, on whichever node it lands
        "accessModes": ["ReadWriteMany"],
        "resources": {"requests": {"storage": settings.store_claim_size}},
    }
    if settings.store_storage_class:
        spec["storageClassName"] = settings.store_storage_class
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": settings.store_claim,
            "namespace": namespace,
            "labels": ballast_labels(component="artifact-store", instance=settings.store_claim),
        },
        "spec": spec,
    }
