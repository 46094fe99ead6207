"""A dynamic provisioner for the node's StorageClasses: one hostPath PersistentVolume per
pending claim, pre-bound through claimRef so the PV controller completes the binding.

- `ballast-local` (the default): a directory of its own per claim; Released volumes are
  deleted with their directory.
- `ballast-shared`: every claim of this class, in any namespace, gets the same directory, as
  claims on one NFS export would. Ballast's artifact store needs that: the operator and the
  pods it starts in every namespace read and write the same files. Released volumes are
  deleted, their shared directory is kept.

Directories are world-writable, so pods of any uid share them. It reconciles by listing every
claim and volume each half second rather than watching: a single node's few hundred objects
list in milliseconds, and nothing can be missed across a dropped watch.

    python provisioner.py --kubeconfig FILE --volumes-dir DIR
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import time
from pathlib import Path

from kubernetes import client, config
from kubernetes.client.rest import ApiException

log = logging.getLogger("provisioner")

PROVISIONER_NAME = "ballast.dev/hostpath"
LOCAL_STORAGE_CLASS = "ballast-local"
SHARED_STORAGE_CLASS = "ballast-shared"
SHARED_ANNOTATION = "ballast.dev/shared"
PROVISIONER_ANNOTATIONS = ("volume.kubernetes.io/storage-provisioner", "volume.beta.kubernetes.io/storage-provisioner")
WRITABLE_DIR_MODE = 0o777
RECONCILE_SECONDS = 0.5


def storage_class_manifests() -> list[dict]:
    def storage_class(name: str, default: bool) -> dict:
        annotations = {"storageclass.kubernetes.io/is-default-class": "true"} if default else {}
        return {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": name, "annotations": annotations},
            "provisioner": PROVISIONER_NAME,
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "Immediate",
            "allowVolumeExpansion": False,
        }

    return [storage_class(LOCAL_STORAGE_CLASS, default=True), storage_class(SHARED_STORAGE_CLASS, default=False)]


def shared_directory(volumes_dir: Path) -> Path:
    return volumes_dir / SHARED_STORAGE_CLASS


def wants_volume(pvc: client.V1PersistentVolumeClaim) -> bool:
    if pvc.spec.volume_name or (pvc.status and pvc.status.phase not in (None, "Pending")):
        return False
    if pvc.metadata.deletion_timestamp:
        return False
    annotations = pvc.metadata.annotations or {}
    if any(annotations.get(key) == PROVISIONER_NAME for key in PROVISIONER_ANNOTATIONS):
        return True
    return pvc.spec.storage_class_name in (LOCAL_STORAGE_CLASS, SHARED_STORAGE_CLASS)


def volume_for_claim(pvc: client.V1PersistentVolumeClaim, volumes_dir: Path) -> dict:
    meta, spec = pvc.metadata, pvc.spec
    name = f"pvc-{meta.uid}"
    shared = spec.storage_class_name == SHARED_STORAGE_CLASS
    path = shared_directory(volumes_dir) if shared else volumes_dir / name
    annotations = {"pv.kubernetes.io/provisioned-by": PROVISIONER_NAME}
    if shared:
        annotations[SHARED_ANNOTATION] = "true"
    requests = (spec.resources.requests if spec.resources else None) or {}
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name, "annotations": annotations},
        "spec": {
            "capacity": {"storage": requests.get("storage", "1Gi")},
            "accessModes": spec.access_modes or ["ReadWriteOnce"],
            "volumeMode": spec.volume_mode or "Filesystem",
            "persistentVolumeReclaimPolicy": "Delete",
            "storageClassName": spec.storage_class_name or LOCAL_STORAGE_CLASS,
            "hostPath": {"path": str(path), "type": "DirectoryOrCreate"},
            "claimRef": {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "namespace": meta.namespace,
                "name": meta.name,
                "uid": meta.uid,
            },
        },
    }


class Provisioner:
    def __init__(self, api: client.ApiClient, volumes_dir: Path):
        self._core = client.CoreV1Api(api)
        self._storage = client.StorageV1Api(api)
        self._volumes_dir = volumes_dir

    def ensure_storage_classes(self) -> None:
        for manifest in storage_class_manifests():
            try:
                self._storage.create_storage_class(manifest)
                log.info("created StorageClass %s", manifest["metadata"]["name"])
            except ApiException as error:
                if error.status != 409:
                    raise

    def reconcile(self) -> None:
        existing = {pv.metadata.name: pv for pv in self._core.list_persistent_volume().items}
        for pvc in self._core.list_persistent_volume_claim_for_all_namespaces().items:
            if wants_volume(pvc) and f"pvc-{pvc.metadata.uid}" not in existing:
                self._provision(pvc)
        for pv in existing.values():
            self._reclaim(pv)

    def _provision(self, pvc: client.V1PersistentVolumeClaim) -> None:
        volume = volume_for_claim(pvc, self._volumes_dir)
        path = Path(volume["spec"]["hostPath"]["path"])
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, WRITABLE_DIR_MODE)
        try:
            self._core.create_persistent_volume(volume)
            log.info("provisioned %s for %s/%s", volume["metadata"]["name"], pvc.metadata.namespace, pvc.metadata.name)
        except ApiException as error:
            if error.status != 409:
                log.warning(
                    "provisioning for %s/%s failed: %s", pvc.metadata.namespace, pvc.metadata.name, error.reason
                )

    def _reclaim(self, pv: client.V1PersistentVolume) -> None:
        annotations = pv.metadata.annotations or {}
        if annotations.get("pv.kubernetes.io/provisioned-by") != PROVISIONER_NAME:
            return
        if (pv.status and pv.status.phase) not in ("Released", "Failed"):
            return
        path = Path(pv.spec.host_path.path)
        if path.is_relative_to(self._volumes_dir) and not annotations.get(SHARED_ANNOTATION):
            shutil.rmtree(path, ignore_errors=True)
        try:
            self._core.delete_persistent_volume(pv.metadata.name)
            log.info("deleted released volume %s", pv.metadata.name)
        except ApiException as error:
            if error.status != 404:
                log.warning("deleting %s failed: %s", pv.metadata.name, error.reason)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--volumes-dir", required=True, type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    provisioner = Provisioner(config.new_client_from_config(config_file=args.kubeconfig), args.volumes_dir)
    while True:
        try:
            provisioner.ensure_storage_classes()
            break
        except Exception as error:  # the API server may still be starting: retry whatever it was
            log.warning("creating the StorageClasses failed, retrying: %s", error)
            time.sleep(1)
    while True:
        try:
            provisioner.reconcile()
        except Exception as error:  # a daemon: one failed round must not end it
            log.warning("reconciling failed: %s", error)
        time.sleep(RECONCILE_SECONDS)


if __name__ == "__main__":
    main()
