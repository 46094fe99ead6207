"""kopf handlers for TrainingRun."""

from __future__ import annotations

import kopf

from ballast.api.kinds import GROUP, VERSION
from ballast.handlers.acknowledge import acknowledge_generation


@kopf.on.resume(GROUP, VERSION, "trainingruns")
@kopf.on.create(GROUP, VERSION, "trainingruns")
@kopf.on.update(GROUP, VERSION, "trainingruns", field="spec")
def reconcile_trainingrun(body: kopf.Body, patch: kopf.Patch, **_) -> None:
    acknowledge_generation("TrainingRun", body, patch)
