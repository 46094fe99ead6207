"""The content-addressed layout of the store: where each kind of artifact lives.

    <namespace>/datasets/<dataset>/<sha256>/data.parquet (or data/part-*.parquet) | profile.json | metadata.json
    <namespace>/models/<model>/<sha256>/<artifact file>  | metadata.json
    ballast.audit/<namespace>/models/<model>.jsonl        the audit trail of a model
    ballast.audit/<namespace>/datasets/<dataset>.jsonl    the audit trail of a Dataset

Every namespace has a part of the store of its own, `<root>/<namespace>`, and that part is
all a pod of the namespace ever sees: its store root (`namespace_store_uri`) is that
prefix, a file:// store is mounted there with `subPath: <namespace>`, and the keys it
composes (`dataset_version_key`, `model_version_key`) are relative to it. The operator,
which serves every namespace, reads the whole store; a URI means the same object to both,
because the pod mounts its namespace's directory at the very path it has under the root.

The audit trails (ballast.audit, docs/audit.md) are the store's one exception to write-once:
each grows by appends. They live outside every namespace's part, so no pod of the namespace
(which runs the user's training code) can reach them; `ballast.audit` has a dot, which a
namespace name cannot have, so it is never taken for a namespace's part (`ballast gc -A`).
A model's log is named by what users type: the model name its ModelVersions, TrainingRuns and
DriftPolicies share (spec.model); it outlives every one of them.

The sha256 in the path is the identity of the content (for datasets, of its canonical
form; for models, of the artifact file), so one content has exactly one place and a
second ingest of unchanged data finds its version already there.
"""

from __future__ import annotations

import re

from ballast.store.keys import join_key, parse_store_root, uri_for_key

SHA256 = re.compile(r"^[a-f0-9]{64}$")

DATASETS = "datasets"
MODELS = "models"
METADATA_FILE = "metadata.json"
DATA_FILE = "data.parquet"
PARTS_DIRECTORY = "data"
"""A partitioned snapshot's parts, data/part-00000.parquet, ... (see ballast.data.snapshot_parts)."""
PROFILE_FILE = "profile.json"
AUDIT = "ballast.audit"
AUDIT_LOG_SUFFIX = ".jsonl"


def _checked_sha256(sha256: str) -> str:
    if not SHA256.match(sha256):
        raise ValueError(f"not a lowercase hex sha256: {sha256!r}")
    return sha256


def dataset_version_key(dataset: str, sha256: str, file: str) -> str:
    return join_key(DATASETS, dataset, _checked_sha256(sha256), file)


def model_version_key(model: str, sha256: str, file: str) -> str:
    return join_key(MODELS, model, _checked_sha256(sha256), file)


def audit_log_key(namespace: str, family: str, name: str) -> str:
    """The root-relative key of a model's (family MODELS) or a Dataset's (DATASETS) audit log."""
    if family not in (MODELS, DATASETS):
        raise ValueError(f"an audit log is a model's or a dataset's, not {family!r}'s")
    return join_key(AUDIT, namespace, family, name + AUDIT_LOG_SUFFIX)


def namespace_store_uri(store_uri: str, namespace: str) -> str:
    """The store root of a namespace's pods: `<root>/<namespace>`. The one definition of it,
    used for the pods' BALLAST_STORE_URI, their volume's subPath and the operator's checks."""
    return uri_for_key(parse_store_root(store_uri), join_key(namespace))


def namespaced_key(namespace: str, key: str) -> str:
    """The operator's full key of a namespace-relative key (what the namespace's pods use)."""
    return join_key(namespace, *key.split("/"))
