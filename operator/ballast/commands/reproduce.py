"""`ballast reproduce <modelversion>`: train again from the recorded inputs and compare digests."""

from __future__ import annotations

import hashlib
import json

from ballast.api.annotations import TRAINING_SPEC_ANNOTATION
from ballast.build.naming import child_name


class NotReproducible(Exception):
    """The ModelVersion carries no recorded training inputs (for example, registered by hand)."""


def reproduction_run(version: dict) -> dict:
    """A TrainingRun with exactly the recorded inputs: the same spec, seed and dataset version.
    Its name is derived from the version, so asking twice does not train twice."""
    annotations = version["metadata"].get("annotations") or {}
    if TRAINING_SPEC_ANNOTATION not in annotations:
        raise NotReproducible(
            f"ModelVersion {version['metadata']['name']} has no recorded training inputs "
            f"(annotation {TRAINING_SPEC_ANNOTATION}); it was not trained by Ballast"
        )
    spec = json.loads(annotations[TRAINING_SPEC_ANNOTATION])
    spec.pop("modelVersionTemplate", None)  # a reproduction is a check, not a new release
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:6]
    return {
        "apiVersion": "ballast.dev/v1alpha1",
        "kind": "TrainingRun",
        "metadata": {
            "name": child_name(version["metadata"]["name"], "repro", digest),
            "namespace": version["metadata"]["namespace"],
            "labels": {"ballast.dev/reproduces": version["metadata"]["name"]},
        },
        "spec": spec,
    }


def verdict(version: dict, run: dict) -> tuple[bool, str]:
    expected = version["spec"]["artifact"]["sha256"]
    artifact = (run.get("status") or {}).get("artifact") or {}
    actual = artifact.get("sha256")
    if actual == expected:
        return True, f"reproduced: {run['metadata']['name']} produced the same artifact sha256 {expected}"
    return False, (
        f"NOT reproduced: {run['metadata']['name']} produced sha256 {actual or 'nothing'}, the registry has {expected}"
    )
