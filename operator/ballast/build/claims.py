"""The artifact store's PersistentVolumeClaim in a namespace where Ballast runs pods."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ballast.build.naming import ballast_labels
from ballast.settings import Settings


def build_store_claim(namespace: str, settings: Settings) -> dict[str, Any]:
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


def _pod_specs(workload: dict[str, Any]) -> list[dict[str, Any]]:
    """A Job's or a Deployment's pod template, or a DaskJob's runner and its cluster's pods."""
    spec = workload.get("spec") or {}
    if workload.get("kind") == "DaskJob":
        cluster = (spec.get("cluster") or {}).get("spec") or {}
        holders = [spec.get("job") or {}, cluster.get("scheduler") or {}, cluster.get("worker") or {}]
        return [holder.get("spec") or {} for holder in holders]
    return [(spec.get("template") or {}).get("spec") or {}]


def mounts_store_claim(workload: dict[str, Any], settings: Settings) -> bool:
    """Whether a workload's pods mount the store's claim (a file:// store)."""
    volumes = [volume for pod in _pod_specs(workload) for volume in pod.get("volumes") or []]
    return any(
        (volume.get("persistentVolumeClaim") or {}).get("claimName") == settings.store_claim for volume in volumes
    )


def store_claim_for(namespace: str, children: Iterable[dict[str, Any]], settings: Settings) -> dict[str, Any] | None:
    """The claim to ensure before these children are created, when one of them mounts it: a
    namespace's first pod may be a serving one (a ModelVersion registered by hand) as well as a
    Job's, and a pod whose claim does not exist stays Pending."""
    if any(mounts_store_claim(child, settings) for child in children):
        return build_store_claim(namespace, settings)
    return None
