"""What every kind does for each new generation of its spec, before it has a real job to do."""

from __future__ import annotations

import kopf

from ballast.conditions import find_condition, now_rfc3339, set_condition
from ballast.metrics import RECONCILE_SECONDS, RECONCILIATIONS

RECONCILING = "Reconciling"


def acknowledge_generation(kind: str, body: kopf.Body, patch: kopf.Patch) -> None:
    """Record that the operator has seen this generation, and say so with an Event.

    Ready stays Unknown with reason Reconciling until the kind's own reconciler gives it a
    real meaning; observedGeneration tells clients which spec the status describes.
    """
    with RECONCILE_SECONDS.labels(kind).time():
        generation = body.metadata.get("generation")
        conditions = body.status.get("conditions")
        ready = find_condition(conditions, "Ready")
        already_seen = body.status.get("observedGeneration") == generation and ready is not None
        if already_seen:
            RECONCILIATIONS.labels(kind, "unchanged").inc()
            return
        patch.status["observedGeneration"] = generation
        patch.status["conditions"] = set_condition(
            conditions,
            type="Ready",
            status="Unknown",
            reason=RECONCILING,
            message=f"generation {generation} accepted; reconciliation in progress",
            observed_generation=generation,
            now=now_rfc3339(),
        )
        kopf.event(body, type="Normal", reason=RECONCILING, message=f"{kind} generation {generation} accepted")
        RECONCILIATIONS.labels(kind, "accepted").inc()
