"""Model artifacts placed in the local cluster's shared store by hand, and ModelVersions naming
them: what a tenant with write access to its part of the store could register, without training."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ballast.models.digest import sha256_hex
from tests.support.kube import shared_store_dir
from tests.support.operator_process import STORE_MOUNT

STORE = f"file://{STORE_MOUNT}"
"""The store's root as the operator and the pods see it (the host directory is mounted there)."""
ARTIFACT_FILE = "model.skops"


def model_version(name: str, model: str, uri: str, sha256: str) -> dict:
    return {
        "apiVersion": "ballast.dev/v1alpha1",
        "kind": "ModelVersion",
        "metadata": {"name": name},
        "spec": {"model": model, "artifact": {"uri": uri, "sha256": sha256}},
    }


def artifact_place(namespace: str, model: str, name: str) -> tuple[Path, str]:
    """Where an artifact goes under the namespace's prefix: its path on this host and its URI."""
    folder = shared_store_dir() / namespace / "models" / model / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder / ARTIFACT_FILE, f"{STORE}/{namespace}/models/{model}/{name}/{ARTIFACT_FILE}"


def plant(namespace: str, model: str, name: str, data: bytes) -> tuple[str, str]:
    """The bytes in the shared store under the namespace's prefix; (uri, sha256)."""
    path, uri = artifact_place(namespace, model, name)
    path.write_bytes(data)
    return uri, sha256_hex(data)


def plant_sparse(namespace: str, model: str, name: str, size: int) -> tuple[str, str]:
    """A file of `size` zero bytes that takes no disk (a hole), and its real sha256, hashed as
    a stream so that the test does not hold it either."""
    path, uri = artifact_place(namespace, model, name)
    with path.open("wb") as handle:
        handle.truncate(size)
    digest, chunk = hashlib.sha256(), bytes(8 << 20)
    for _ in range(size // len(chunk)):
        digest.update(chunk)
    digest.update(bytes(size % len(chunk)))
    return uri, digest.hexdigest()
