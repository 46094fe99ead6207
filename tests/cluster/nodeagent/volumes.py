"""Turns a pod's volumes into host directories that the sandbox bind-mounts at mountPath.

emptyDir, configMap, secret, downwardAPI, projected (serviceAccountToken, configMap, secret,
downwardAPI), persistentVolumeClaim (and generic ephemeral volumes, which are PVCs) and
hostPath are supported. Content volumes are rewritten atomically by `refresh`, which the pod
worker calls periodically, so ConfigMap/Secret updates and token renewals reach running pods.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from .atomicwriter import Payload, write_atomically
from .downward import field_value, format_map, resource_value
from .tokens import TokenSource

DEFAULT_MODE = 0o644
# A pod's processes may run as any uid (see --honor-run-as-user); scratch space must let them write.
WRITABLE_DIR_MODE = 0o777
CONTENT_KINDS = ("configMap", "secret", "downwardAPI", "projected")


class VolumeError(Exception):
    """The volume cannot be set up yet (FailedMount); the pod stays ContainerCreating."""


class Lookups(Protocol):
    def config_map_data(self, namespace: str, name: str) -> dict[str, bytes] | None: ...
    def secret_data(self, namespace: str, name: str) -> dict[str, bytes] | None: ...
    def pvc(self, namespace: str, name: str) -> dict | None: ...
    def pv(self, name: str) -> dict | None: ...


def keyed_payload(kind: str, name: str, data: dict[str, bytes] | None, items: list[dict] | None,
                  optional: bool, default_mode: int) -> Payload:
    """Files for a configMap or secret source: every key, or just `items` (key -> path, mode)."""
    if data is None:
        if optional:
            return {}
        raise VolumeError(f"{kind} {name!r} not found")
    if not items:
        return {key: (value, default_mode) for key, value in data.items()}
    payload: Payload = {}
    for item in items:
        if item["key"] not in data:
            if optional:
                continue
            raise VolumeError(f"key {item['key']!r} not found in {kind} {name!r}")
        payload[item["path"]] = (data[item["key"]], item.get("mode", default_mode))
    return payload


def downward_payload(pod: dict, items: list[dict], default_mode: int, node_allocatable: dict[str, str]) -> Payload:
    payload: Payload = {}
    for item in items:
        if "fieldRef" in item:
            path = item["fieldRef"]["fieldPath"]
            if path in ("metadata.labels", "metadata.annotations"):
                value = format_map(pod["metadata"].get(path.split(".")[1]) or {})
            else:
                value = field_value(pod, path)
        else:
            ref = item["resourceFieldRef"]
            value = resource_value(pod, ref["containerName"], ref["resource"], ref.get("divisor"), node_allocatable)
        payload[item["path"]] = (value.encode(), item.get("mode", default_mode))
    return payload


class PodVolumes:
    """The host side of one pod's volumes."""

    def __init__(self, pod: dict, pod_dir: Path, lookups: Lookups, tokens: TokenSource,
                 node_allocatable: dict[str, str]):
        self._pod = pod
        self._dir = pod_dir / "volumes"
        self._lookups = lookups
        self._tokens = tokens
        self._allocatable = node_allocatable

    def update_pod(self, pod: dict) -> None:
        """Labels, annotations and status.podIP may change; downwardAPI files follow them."""
        self._pod = pod

    def set_up(self) -> dict[str, Path]:
        """Host path of every volume, keyed by volume name; raises VolumeError until all exist."""
        paths = {}
        for volume in self._pod["spec"].get("volumes") or []:
            paths[volume["name"]] = self._set_up_one(volume)
        return paths

    def refresh(self) -> None:
        for volume in self._pod["spec"].get("volumes") or []:
            if any(kind in volume for kind in CONTENT_KINDS):
                self._set_up_one(volume)

    def _set_up_one(self, volume: dict) -> Path:
        name = volume["name"]
        namespace = self._pod["metadata"]["namespace"]
        if "emptyDir" in volume:
            path = self._dir / name
            path.mkdir(parents=True, exist_ok=True)
            os.chmod(path, WRITABLE_DIR_MODE)
            return path
        if "hostPath" in volume:
            return _host_path(volume["hostPath"])
        if "persistentVolumeClaim" in volume:
            return self._claim_path(namespace, volume["persistentVolumeClaim"]["claimName"])
        if "ephemeral" in volume:  # the ephemeral volume controller names the PVC <pod>-<volume>
            return self._claim_path(namespace, f"{self._pod['metadata']['name']}-{name}")
        for kind in CONTENT_KINDS:
            if kind in volume:
                path = self._dir / name
                write_atomically(path, self._content_payload(kind, volume[kind]))
                return path
        raise VolumeError(f"volume {name!r}: unsupported volume type {sorted(set(volume) - {'name'})}")

    def _claim_path(self, namespace: str, claim: str) -> Path:
        pvc = self._lookups.pvc(namespace, claim)
        if pvc is None:
            raise VolumeError(f"persistentvolumeclaim {claim!r} not found")
        volume_name = pvc.get("spec", {}).get("volumeName")
        if not volume_name or pvc.get("status", {}).get("phase") != "Bound":
            raise VolumeError(f"persistentvolumeclaim {claim!r} is not bound")
        pv = self._lookups.pv(volume_name)
        if pv is None:
            raise VolumeError(f"persistentvolume {volume_name!r} not found")
        spec = pv["spec"]
        source = spec.get("hostPath") or spec.get("local")
        if not source:
            raise VolumeError(f"persistentvolume {volume_name!r} is neither hostPath nor local")
        path = Path(source["path"])
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _content_payload(self, kind: str, source: dict) -> Payload:
        namespace = self._pod["metadata"]["namespace"]
        mode = source.get("defaultMode", DEFAULT_MODE)
        if kind == "configMap":
            return keyed_payload("configmap", source["name"], self._lookups.config_map_data(namespace, source["name"]),
                                 source.get("items"), source.get("optional", False), mode)
        if kind == "secret":
            name = source["secretName"]
            return keyed_payload("secret", name, self._lookups.secret_data(namespace, name),
                                 source.get("items"), source.get("optional", False), mode)
        if kind == "downwardAPI":
            return downward_payload(self._pod, source.get("items") or [], mode, self._allocatable)
        payload: Payload = {}
        for projection in source.get("sources") or []:
            payload.update(self._projection(projection, mode))
        return payload

    def _projection(self, projection: dict, mode: int) -> Payload:
        namespace = self._pod["metadata"]["namespace"]
        if "serviceAccountToken" in projection:
            spec = projection["serviceAccountToken"]
            token = self._tokens.token(self._pod, spec.get("audience"), spec.get("expirationSeconds", 3600))
            return {spec["path"]: (token.encode(), mode)}
        if "configMap" in projection:
            ref = projection["configMap"]
            return keyed_payload("configmap", ref["name"], self._lookups.config_map_data(namespace, ref["name"]),
                                 ref.get("items"), ref.get("optional", False), mode)
        if "secret" in projection:
            ref = projection["secret"]
            return keyed_payload("secret", ref["name"], self._lookups.secret_data(namespace, ref["name"]),
                                 ref.get("items"), ref.get("optional", False), mode)
        if "downwardAPI" in projection:
            return downward_payload(self._pod, projection["downwardAPI"].get("items") or [], mode, self._allocatable)
        raise VolumeError(f"unsupported projected source {sorted(projection)}")


def _host_path(source: dict) -> Path:
    path = Path(source["path"])
    kind = source.get("type", "")
    if kind == "DirectoryOrCreate":
        path.mkdir(parents=True, exist_ok=True)
    elif kind == "FileOrCreate" and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    elif kind in ("Directory", "File", "Socket", "CharDevice", "BlockDevice") and not path.exists():
        raise VolumeError(f"hostPath {path} does not exist")
    return path
