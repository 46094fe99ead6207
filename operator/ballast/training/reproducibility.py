"""The record that lets anyone train the same model again and check they got the same bytes."""

from __future__ import annotations

import math
import platform
from collections.abc import Mapping
from importlib import metadata
from typing import Any

import numpy as np

import ballast

# The packages whose versions decide the fitted model's bytes.
KEY_PACKAGES = ("scikit-learn", "skops", "numpy", "pandas", "scipy", "lightgbm")
IMAGE_ENV = "BALLAST_IMAGE"
IMAGE_DIGEST_ENV = "BALLAST_IMAGE_DIGEST"
CODE_VERSION_ENV = "BALLAST_CODE_VERSION"


def package_versions() -> dict[str, str]:
    return {name: metadata.version(name) for name in KEY_PACKAGES}


def json_safe(value: Any) -> Any:
    """`value` as plain JSON types; what JSON cannot say exactly becomes its repr."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, (list, tuple, np.ndarray)):
        return [json_safe(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in value.items()}
    return repr(value)


def reproducibility_record(
    *,
    dataset_name: str,
    dataset_sha256: str,
    estimator: str,
    params: dict[str, Any],
    seed: int,
    test_fraction: float,
    metrics: dict[str, float],
    environment: Mapping[str, str],
) -> dict[str, Any]:
    """Everything that went into the model, camelCase like the API; the image comes from env vars."""
    return {
        "datasetName": dataset_name,
        "datasetSha256": dataset_sha256,
        "estimator": estimator,
        "params": json_safe(params),
        "seed": seed,
        "testFraction": test_fraction,
        "metrics": metrics,
        "ballastVersion": ballast.__version__,
        "pythonVersion": platform.python_version(),
        "packages": package_versions(),
        "image": environment.get(IMAGE_ENV) or None,
        "imageDigest": environment.get(IMAGE_DIGEST_ENV) or None,
        "codeVersion": environment.get(CODE_VERSION_ENV) or ballast.__version__,
    }
