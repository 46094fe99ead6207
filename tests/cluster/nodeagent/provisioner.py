"""A dynamic provisioner for the node's StorageClasses: one hostPath PersistentVolume per
pending claim, pre-bound through claimRef so the real PV controller completes the binding.

- `ballast-local` (the default): a directory of its own per claim; Released volumes are
  deleted with their directory.
- `ballast-shared`: every claim of this class, in any namespace, gets the same directory, as
  claims on one NFS export would. Ballast's artifact store needs that: the operator and the
  pods it starts in every namespace read and write the same files. Released volumes are
  deleted, their shared directory is kept.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from pathlib import Path

from kubernetes import client

from .config import AgentConfig
from .informer import run_informer
from .kubeapi import is_conflict, is_not_found
from .volumes import WRITABLE_DIR_MODE

log = logging.getLogger(__name__)

PROVISIONER_ANNOTATIONS = ("volume.kubernetes.io/storage-provisioner", "volume.beta.kubernetes.io/storage-provisioner")
SHARED_STORAGE_CLASS = "ballast-shared"
SHARED_ANNOTATION = "nodeagent.ballast.dev/shared"


def storage_class_manifests(config: AgentConfig) -> list[dict]:
    def storage_class(name: str, default: bool) -> dict:
        annotations = {"storageclass.kubernetes.io/is-default-class": "true"} if default else {}
        return {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": name, "annotations": annotations},
            "provisioner": config.provisioner_name,
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "Immediate",
            "allowVolumeExpansion": False,
        }

    return [storage_class(config.storage_class, default=True), storage_class(SHARED_STORAGE_CLASS, default=False)]


def shared_directory(config: AgentConfig) -> Path:
    return config.volumes_dir / SHARED_STORAGE_CLASS


def wants_our_volume(pvc: dict, config: AgentConfig) -> bool:
    if pvc["spec"].get("volumeName") or (pvc.get("status") or {}).get("phase") not in (None, "Pending"):
        return False
    if pvc["metadata"].get("deletionTimestamp"):
        return False
    annotations = pvc["metadata"].get("annotations") or {}
    if any(annotations.get(key) == config.provisioner_name for key in PROVISIONER_ANNOTATIONS):
        return True
    return pvc["spec"].get("storageClassName") in (config.storage_class, SHARED_STORAGE_CLASS)


def volume_for_claim(pvc: dict, config: AgentConfig) -> dict:
    meta, spec = pvc["metadata"], pvc["spec"]
    name = f"pvc-{meta['uid']}"
    shared = spec.get("storageClassName") == SHARED_STORAGE_CLASS
    path = shared_directory(config) if shared else config.volumes_dir / name
    annotations = {"pv.kubernetes.io/provisioned-by": config.provisioner_name}
    if shared:
        annotations[SHARED_ANNOTATION] = "true"
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name, "annotations": annotations},
        "spec": {
            "capacity": {"storage": spec.get("resources", {}).get("requests", {}).get("storage", "1Gi")},
            "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
            "volumeMode": spec.get("volumeMode", "Filesystem"),
            "persistentVolumeReclaimPolicy": "Delete",
            "storageClassName": spec.get("storageClassName") or config.storage_class,
            "hostPath": {"path": str(path), "type": "DirectoryOrCreate"},
            "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": meta["namespace"],
                         "name": meta["name"], "uid": meta["uid"]},
        },
    }


class HostPathProvisioner:
    def __init__(self, api: client.ApiClient, config: AgentConfig):
        self._core = client.CoreV1Api(api)
        self._storage = client.StorageV1Api(api)
        self._config = config

    def ensure_storage_class(self) -> None:
        for manifest in storage_class_manifests(self._config):
            try:
                self._storage.create_storage_class(manifest)
                log.info("created StorageClass %s", manifest["metadata"]["name"])
            except Exception as error:
                if not is_conflict(error):
                    raise

    def run(self, stop: threading.Event) -> None:
        threads = [
            threading.Thread(target=run_informer, name="pvc-informer", daemon=True,
                             args=("pvcs", self._core.list_persistent_volume_claim_for_all_namespaces,
                                   self._on_claim, stop)),
            threading.Thread(target=run_informer, name="pv-informer", daemon=True,
                             args=("pvs", self._core.list_persistent_volume, self._on_volume, stop)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _on_claim(self, kind: str, pvc: dict) -> None:
        if kind == "DELETED" or not wants_our_volume(pvc, self._config):
            return
        volume = volume_for_claim(pvc, self._config)
        path = Path(volume["spec"]["hostPath"]["path"])
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, WRITABLE_DIR_MODE)
        try:
            self._core.create_persistent_volume(volume)
            log.info("provisioned %s for %s/%s", volume["metadata"]["name"], pvc["metadata"]["namespace"],
                     pvc["metadata"]["name"])
        except Exception as error:
            if not is_conflict(error):
                log.warning("provisioning for %s/%s failed: %s", pvc["metadata"]["namespace"],
                            pvc["metadata"]["name"], str(error).splitlines()[0])

    def _on_volume(self, kind: str, pv: dict) -> None:
        annotations = pv["metadata"].get("annotations") or {}
        if annotations.get("pv.kubernetes.io/provisioned-by") != self._config.provisioner_name:
            return
        released = (pv.get("status") or {}).get("phase") in ("Released", "Failed")
        if kind == "DELETED" or (released and pv["spec"].get("persistentVolumeReclaimPolicy") == "Delete"):
            path = Path(pv["spec"]["hostPath"]["path"])
            if path.is_relative_to(self._config.volumes_dir) and not annotations.get(SHARED_ANNOTATION):
                shutil.rmtree(path, ignore_errors=True)
            if kind != "DELETED":
                try:
                    self._core.delete_persistent_volume(pv["metadata"]["name"])
                    log.info("deleted released volume %s", pv["metadata"]["name"])
                except Exception as error:
                    if not is_not_found(error):
                        log.warning("deleting %s failed: %s", pv["metadata"]["name"], str(error).splitlines()[0])
