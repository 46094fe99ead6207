"""Whether Ballast may take care of a model's Service: only one that is absent or already Ballast's.

The Service is named after the model, and a model's name is whatever a ModelVersion's author
wrote: without this check, anyone who may create ModelVersions could repoint (and, by deleting
the version, delete) any Service of the namespace that happens to have that name.

A Service is Ballast's when it carries Ballast's labels for that very model
(`app.kubernetes.io/managed-by: ballast`, `app.kubernetes.io/component: serving`,
`ballast.dev/model: <model>`), which every Service Ballast creates has, and nothing but a
ModelVersion controls it. Whoever could put those labels on a Service could edit the Service
anyway, so taking over such a Service gives nobody a right they did not have.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from ballast.api.kinds import GROUP
from ballast.api.modelversion import ModelVersionStatus
from ballast.build.naming import COMPONENT_LABEL, MANAGED_BY, SERVING_COMPONENT
from ballast.build.serving import MODEL_LABEL
from ballast.conditions import set_condition
from ballast.reasons.modelversion import SERVICE_CONFLICT, SERVICE_OWNED
from ballast.reconcile.outcome import Outcome
from ballast.reconcile.typed import condition_of, parse_status


class ServiceAction(Enum):
    CREATE = "create"  # no such Service: create it (never an apply, which would patch one made meanwhile)
    APPLY = "apply"  # Ballast's: apply, locked to the resourceVersion that was judged
    LEAVE = "leave"  # someone else's: not touched, not owned, never deleted with a version


@dataclass(frozen=True)
class ServiceClaim:
    action: ServiceAction
    resource_version: str | None = None
    why: str = ""
    """Why the Service is not Ballast's: names and label keys only, never a value it carries."""


def claim_model_service(live: dict[str, Any] | None, model: str) -> ServiceClaim:
    """What Ballast may do with the model's Service, judged from the live object (None: absent)."""
    if live is None:
        return ServiceClaim(ServiceAction.CREATE)
    metadata = live.get("metadata") or {}
    name, labels = metadata.get("name", ""), metadata.get("labels") or {}
    expected = {"app.kubernetes.io/managed-by": MANAGED_BY, COMPONENT_LABEL: SERVING_COMPONENT, MODEL_LABEL: model}
    missing = sorted(key for key, value in expected.items() if labels.get(key) != value)
    if missing:
        return ServiceClaim(
            ServiceAction.LEAVE,
            why=f"Service {name} exists and is not Ballast's for model "
            f"{model} (labels {', '.join(missing)} do not say so)",
        )
    controller = next(
        (
            owner
            for owner in metadata.get("ownerReferences") or []
            if owner.get("controller") and not _is_model_version(owner)
        ),
        None,
    )
    if controller is not None:
        return ServiceClaim(
            ServiceAction.LEAVE, why=f"Service {name} is controlled by a {controller.get('kind', 'another object')}"
        )
    return ServiceClaim(ServiceAction.APPLY, resource_version=metadata.get("resourceVersion"))


def _is_model_version(owner: dict[str, Any]) -> bool:
    return owner.get("kind") == "ModelVersion" and str(owner.get("apiVersion", "")).startswith(f"{GROUP}/")


def with_service_claim(
    outcome: Outcome, current_status: dict[str, Any], claim: ServiceClaim, *, generation: int | None, now: str
) -> Outcome:
    """The outcome with the ServiceConflict condition: True (and one Warning, when it becomes
    True) while the Service is someone else's; False once it is Ballast's again. A version that
    never had a conflict gets no such condition at all."""
    conditions = outcome.status.get("conditions") or current_status.get("conditions")
    had = condition_of(parse_status(ModelVersionStatus, current_status), SERVICE_CONFLICT)
    if claim.action is ServiceAction.LEAVE:
        outcome.status["conditions"] = set_condition(
            conditions,
            type=SERVICE_CONFLICT,
            status="True",
            reason=SERVICE_CONFLICT,
            message=f"{claim.why}; the Deployment is served without it"[:1000],
            observed_generation=generation,
            now=now,
        )
        if had is None or had.status != "True":
            outcome.event("Warning", SERVICE_CONFLICT, f"{claim.why}: Ballast leaves it untouched"[:1000])
    elif had is not None:
        outcome.status["conditions"] = set_condition(
            conditions,
            type=SERVICE_CONFLICT,
            status="False",
            reason=SERVICE_OWNED,
            message="the model's Service is Ballast's",
            observed_generation=generation,
            now=now,
        )
    return outcome


__all__ = [
    "SERVICE_CONFLICT",
    "SERVICE_OWNED",
    "ServiceAction",
    "ServiceClaim",
    "claim_model_service",
    "with_service_claim",
]
