"""Which serving pods the operator may read a version's counters from: only those whose owner
chain ends at the Deployment Ballast created for that very ModelVersion.

Labels are not proof: anyone who may create a Deployment (or a pod) can copy the serving
labels, and a pod carrying them would otherwise feed its own numbers into a canary's analysis
or a drift window. Pod -> ReplicaSet -> Deployment -> ModelVersion is followed by uid, through
controller references only, so an object with a copied name does not pass either.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ballast.reconcile.serving import DeploymentState


@dataclass(frozen=True)
class ServingPod:
    """A ready serving pod as the index holds it."""

    address: str
    replica_set_uid: str | None
    """The uid of the ReplicaSet that controls the pod (its controller owner reference), if one does."""


def controller_uid(owner_references: Iterable[Mapping[str, Any]] | None, kind: str) -> str | None:
    """The uid of the object of that kind that controls an object (one at most has controller: true)."""
    return next(
        (owner.get("uid") for owner in owner_references or [] if owner.get("controller") and owner.get("kind") == kind),
        None,
    )


def pods_of_version(
    pods: Iterable[ServingPod],
    replica_set_controllers: Mapping[str, str | None],
    deployment: DeploymentState | None,
    version_uid: str | None,
) -> list[str]:
    """The addresses of the pods that belong to the version's own Deployment.

    replica_set_controllers: ReplicaSet uid -> the uid of the Deployment that controls it.
    deployment: the Deployment named for the version; it counts only if the version controls it."""
    if deployment is None or not deployment.uid or not version_uid or deployment.controller_uid != version_uid:
        return []
    return [
        pod.address
        for pod in pods
        if pod.replica_set_uid and replica_set_controllers.get(pod.replica_set_uid) == deployment.uid
    ]
