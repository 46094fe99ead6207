"""kopf handlers for ModelVersion: verify the artifact on every change and periodically after."""

from __future__ import annotations

import kopf

from ballast.api.kinds import GROUP, VERSION
from ballast.handlers.apply import apply_outcome, plain_body
from ballast.handlers.context import SETTINGS, artifact_store, now
from ballast.reconcile.modelversion import reconcile_model_version
from ballast.registry import verify_artifact


@kopf.on.resume(GROUP, VERSION, "modelversions")
@kopf.on.create(GROUP, VERSION, "modelversions")
@kopf.on.update(GROUP, VERSION, "modelversions", field="spec")
@kopf.timer(GROUP, VERSION, "modelversions", interval=SETTINGS.verify_interval_seconds)
def reconcile(body: kopf.Body, patch: kopf.Patch, **_) -> None:
    artifact = body.spec["artifact"]
    verification = verify_artifact(artifact_store(), artifact["uri"], artifact["sha256"])
    apply_outcome(body, patch, reconcile_model_version(plain_body(body), verification, now()), SETTINGS)
