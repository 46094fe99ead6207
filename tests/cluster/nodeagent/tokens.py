"""Service-account tokens for projected volumes, requested through the TokenRequest API and
bound to the pod, so the API server invalidates them when the pod goes away."""

from __future__ import annotations

import threading
import time

from kubernetes import client

# The kubelet refreshes a token once 80% of its lifetime has passed (or after 24h).
REFRESH_FRACTION = 0.8
MAX_REFRESH_SECONDS = 24 * 3600


def refresh_after_seconds(expiration_seconds: int) -> float:
    return min(expiration_seconds * REFRESH_FRACTION, MAX_REFRESH_SECONDS)


class TokenSource:
    def __init__(self, api: client.ApiClient):
        self._core = client.CoreV1Api(api)
        self._cache: dict[tuple, tuple[str, float]] = {}  # key -> (token, monotonic refresh time)
        self._lock = threading.Lock()

    def token(self, pod: dict, audience: str | None, expiration_seconds: int) -> str:
        meta = pod["metadata"]
        key = (meta["uid"], audience or "", expiration_seconds)
        with self._lock:
            cached = self._cache.get(key)
            if cached and time.monotonic() < cached[1]:
                return cached[0]
        body = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "expirationSeconds": expiration_seconds,
                "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": meta["name"], "uid": meta["uid"]},
            },
        }
        if audience:  # without one the API server uses its own audiences, as for kube-api-access
            body["spec"]["audiences"] = [audience]
        account = pod["spec"].get("serviceAccountName") or "default"
        response = self._core.create_namespaced_service_account_token(account, meta["namespace"], body)
        token = response.status.token
        with self._lock:
            self._cache[key] = (token, time.monotonic() + refresh_after_seconds(expiration_seconds))
        return token

    def next_refresh(self, pod_uid: str) -> float | None:
        """Monotonic time at which one of the pod's tokens is due for renewal."""
        with self._lock:
            due = [at for (uid, *_), (_, at) in self._cache.items() if uid == pod_uid]
        return min(due) if due else None

    def forget(self, pod_uid: str) -> None:
        with self._lock:
            for key in [k for k in self._cache if k[0] == pod_uid]:
                del self._cache[key]
