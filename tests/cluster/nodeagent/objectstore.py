"""Reads the ConfigMaps, Secrets, PVCs and PVs that pods refer to, as plain dicts."""

from __future__ import annotations

import base64

from kubernetes import client

from .kubeapi import is_not_found


class ObjectStore:
    def __init__(self, api: client.ApiClient):
        self._core = client.CoreV1Api(api)
        self._api = api

    def _get(self, read, *args) -> dict | None:
        try:
            return self._api.sanitize_for_serialization(read(*args))
        except Exception as error:
            if is_not_found(error):
                return None
            raise

    def config_map_data(self, namespace: str, name: str) -> dict[str, bytes] | None:
        """Every key of the ConfigMap as bytes (data and binaryData alike), or None if absent."""
        cm = self._get(self._core.read_namespaced_config_map, name, namespace)
        if cm is None:
            return None
        data = {k: v.encode() for k, v in (cm.get("data") or {}).items()}
        data.update({k: base64.b64decode(v) for k, v in (cm.get("binaryData") or {}).items()})
        return data

    def secret_data(self, namespace: str, name: str) -> dict[str, bytes] | None:
        secret = self._get(self._core.read_namespaced_secret, name, namespace)
        if secret is None:
            return None
        data = {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}
        # stringData is write-only on the server, but harmless to honour if it ever appears
        data.update({k: v.encode() for k, v in (secret.get("stringData") or {}).items()})
        return data

    def pvc(self, namespace: str, name: str) -> dict | None:
        return self._get(self._core.read_namespaced_persistent_volume_claim, name, namespace)

    def pv(self, name: str) -> dict | None:
        return self._get(self._core.read_persistent_volume, name)
