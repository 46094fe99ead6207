"""Security contexts that meet the Pod Security Standard "restricted"."""

from __future__ import annotations

from typing import Any

# A numeric non-root user, so the kubelet can verify runAsNonRoot without the image's help.
DEFAULT_USER_ID = 65532


def restricted_pod_security_context(user_id: int = DEFAULT_USER_ID) -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": user_id,
        "runAsGroup": user_id,
        "fsGroup": user_id,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def restricted_container_security_context() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
