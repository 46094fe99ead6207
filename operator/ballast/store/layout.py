"""The content-addressed layout of the store: where each kind of artifact lives.

    datasets/<dataset>/<sha256>/data.parquet | profile.json | metadata.json
    models/<model>/<sha256>/<artifact file>  | metadata.json

The sha256 in the path is the identity of the content (for datasets, of its canonical
form; for models, of the artifact file), so one content has exactly one place and a
second ingest of unchanged data finds its version already there.
"""

from __future__ import annotations

import re

from ballast.store.keys import join_key

SHA256 = re.compile(r"^[a-f0-9]{64}$")

DATASETS = "datasets"
MODELS = "models"
METADATA_FILE = "metadata.json"
DATA_FILE = "data.parquet"
PROFILE_FILE = "profile.json"


def _checked_sha256(sha256: str) -> str:
    if not SHA256.match(sha256):
        raise ValueError(f"not a lowercase hex sha256: {sha256!r}")
    return sha256


def dataset_version_key(dataset: str, sha256: str, file: str) -> str:
    return join_key(DATASETS, dataset, _checked_sha256(sha256), file)


def model_version_key(model: str, sha256: str, file: str) -> str:
    return join_key(MODELS, model, _checked_sha256(sha256), file)
