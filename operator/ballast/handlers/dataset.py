"""kopf handlers for Dataset."""

from __future__ import annotations

import kopf

from ballast.api.kinds import GROUP, VERSION
from ballast.handlers.acknowledge import acknowledge_generation


@kopf.on.resume(GROUP, VERSION, "datasets")
@kopf.on.create(GROUP, VERSION, "datasets")
@kopf.on.update(GROUP, VERSION, "datasets", field="spec")
def reconcile_dataset(body: kopf.Body, patch: kopf.Patch, **_) -> None:
    acknowledge_generation("Dataset", body, patch)
