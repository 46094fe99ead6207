"""The feedback token of a namespace's serving pods: one Secret per namespace
(`ballast-feedback`, key `token`), created by the operator when a version is first served there
and never rewritten afterwards: its owners may rotate it. The serving pods read it from a file
(BALLAST_FEEDBACK_TOKEN_FILE, mounted read-only), so a rotation reaches running pods without a
restart once the kubelet updates the volume; only a caller that presents it may send feedback.

The names below are the one definition of that interface: the server's side
(ballast.serving.auth) imports them, so this module must stay free of the operator's heavy imports.
"""

from __future__ import annotations

import secrets
from typing import Any

from ballast.build.naming import SERVING_COMPONENT, ballast_labels

FEEDBACK_SECRET = "ballast-feedback"
FEEDBACK_TOKEN_KEY = "token"
FEEDBACK_TOKEN_DIR = "/var/run/ballast/feedback"
FEEDBACK_TOKEN_FILE = f"{FEEDBACK_TOKEN_DIR}/{FEEDBACK_TOKEN_KEY}"
FEEDBACK_TOKEN_ENV = "BALLAST_FEEDBACK_TOKEN_FILE"
FEEDBACK_VOLUME = "feedback-token"


def new_feedback_token() -> str:
    return secrets.token_urlsafe(32)


def build_feedback_secret(namespace: str, token: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": FEEDBACK_SECRET,
            "namespace": namespace,
            # no owner: it outlives every version, and a rotated token must survive them all
            "labels": ballast_labels(component=SERVING_COMPONENT, instance=FEEDBACK_SECRET),
        },
        "stringData": {FEEDBACK_TOKEN_KEY: token},
    }


def feedback_token_env() -> dict[str, Any]:
    return {"name": FEEDBACK_TOKEN_ENV, "value": FEEDBACK_TOKEN_FILE}


def feedback_token_volume() -> dict[str, Any]:
    # 0440 with the pod's fsGroup: the server's user reads it, nobody else in the pod can
    return {
        "name": FEEDBACK_VOLUME,
        "secret": {
            "secretName": FEEDBACK_SECRET,
            "defaultMode": 0o440,
            "items": [{"key": FEEDBACK_TOKEN_KEY, "path": FEEDBACK_TOKEN_KEY}],
        },
    }


def feedback_token_mount() -> dict[str, Any]:
    return {"name": FEEDBACK_VOLUME, "mountPath": FEEDBACK_TOKEN_DIR, "readOnly": True}
