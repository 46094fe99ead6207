"""The Secret that carries a Dataset to its ingest pod, mounted read-only as a file.

Not an environment variable: the kernel refuses to start a process with one variable (or
argument) over 128 KiB ("Argument list too long"), which a few hundred inline rows exceed, and
the pod then never says why. A Secret holds up to 1 MiB; the CRD bounds inline rows so that the
whole document fits (api.dataset.INLINE_ROWS_MAX_BYTES). A Secret, not a ConfigMap, because the
operator may only create Secrets, never read, update or delete them, and holds no rights on
ConfigMaps at all.

The name carries the document's digest, and so does the Job's environment: the operator creates
the Secret only when absent and cannot read one that exists, so the pod checks that the bytes it
was given are the ones the operator checked (runtime.ingest refuses others)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ballast.build.naming import INGEST_COMPONENT, ballast_labels, child_name
from ballast.build.pods import owner_reference

INPUT_VOLUME = "dataset"
INPUT_DIR = "/etc/ballast/dataset"
INPUT_KEY = "dataset.json"
INPUT_PATH = f"{INPUT_DIR}/{INPUT_KEY}"
SECRET_MAX_BYTES = 1024 * 1024
"""What the API server accepts in one Secret's data."""


def dataset_document(dataset: dict[str, Any]) -> str:
    """What `ballast ingest --dataset-json` reads: the name and spec, compact."""
    document = {"metadata": {"name": dataset["metadata"]["name"]}, "spec": dataset["spec"]}
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


def document_sha256(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


def ingest_input_name(dataset: str, sha256: str) -> str:
    """One per content: the refreshes of a generation share it, and a name never changes meaning."""
    return child_name(dataset, "ingest", sha256[:16])


def build_ingest_input(dataset: dict[str, Any]) -> dict[str, Any]:
    """Owned by the Dataset, so it goes with it; created (if absent) before each ingest Job."""
    name, document = dataset["metadata"]["name"], dataset_document(dataset)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "immutable": True,
        "metadata": {
            "name": ingest_input_name(name, document_sha256(document)),
            "namespace": dataset["metadata"]["namespace"],
            "labels": ballast_labels(component=INGEST_COMPONENT, instance=name),
            "ownerReferences": [owner_reference(dataset)],
        },
        "stringData": {INPUT_KEY: document},
    }


def ingest_input_volume(dataset: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], str]:
    """(volume, mount, sha256): the Secret as a read-only file, which the restricted Pod Security
    Standard and the read-only root filesystem both allow, and the digest its bytes must have."""
    sha256 = document_sha256(dataset_document(dataset))
    volume = {
        "name": INPUT_VOLUME,
        "secret": {
            "secretName": ingest_input_name(dataset["metadata"]["name"], sha256),
            "items": [{"key": INPUT_KEY, "path": INPUT_KEY}],
        },
    }
    mount = {"name": INPUT_VOLUME, "mountPath": INPUT_DIR, "readOnly": True}
    return volume, mount, sha256
