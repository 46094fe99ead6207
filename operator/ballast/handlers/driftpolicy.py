"""kopf handlers for DriftPolicy."""

from __future__ import annotations

import kopf

from ballast.api.kinds import GROUP, VERSION
from ballast.handlers.acknowledge import acknowledge_generation


@kopf.on.resume(GROUP, VERSION, "driftpolicies")
@kopf.on.create(GROUP, VERSION, "driftpolicies")
@kopf.on.update(GROUP, VERSION, "driftpolicies", field="spec")
def reconcile_driftpolicy(body: kopf.Body, patch: kopf.Patch, **_) -> None:
    acknowledge_generation("DriftPolicy", body, patch)
