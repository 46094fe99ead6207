"""The serving pods whose counters may be read for a version, from the kopf indexes."""

from __future__ import annotations

import kopf

from ballast.build.serving import serving_deployment_name
from ballast.canary.pods import pods_of_version
from ballast.handlers.indexes import one_of


def owned_pod_addresses(
    namespace: str,
    version: str,
    version_uid: str | None,
    *,
    serving_pods: kopf.Index,
    serving_replica_sets: kopf.Index,
    ballast_deployments: kopf.Index,
) -> list[str]:
    """Addresses of the version's ready pods whose owner chain ends at its own Deployment."""
    pods = list(serving_pods.get((namespace, version), []))
    replica_sets = {pod.replica_set_uid for pod in pods if pod.replica_set_uid}
    controllers = {uid: one_of(serving_replica_sets, (namespace, uid)) for uid in replica_sets}
    deployment = one_of(ballast_deployments, (namespace, serving_deployment_name(version)))
    return pods_of_version(pods, controllers, deployment, version_uid)
