"""kopf handlers for ModelVersion."""

from __future__ import annotations

import kopf

from ballast.api.kinds import GROUP, VERSION
from ballast.handlers.acknowledge import acknowledge_generation


@kopf.on.resume(GROUP, VERSION, "modelversions")
@kopf.on.create(GROUP, VERSION, "modelversions")
@kopf.on.update(GROUP, VERSION, "modelversions", field="spec")
def reconcile_modelversion(body: kopf.Body, patch: kopf.Patch, **_) -> None:
    acknowledge_generation("ModelVersion", body, patch)
