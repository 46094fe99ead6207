"""The HorizontalPodAutoscaler of an autoscaled Production version, and the hand-over of its
Deployment's replicas to it.

Server-side apply removes a field its manager stops applying when no other manager owns it:
a Deployment applied without `replicas` after Ballast set them falls back to one pod until
the autoscaler's next sync. So before the first apply without `replicas`, a manager of its own
(REPLICAS_HANDOVER_MANAGER) applies only the replicas the Deployment runs now; from then on
only the autoscaler changes them, and Ballast's applies never mention them.
"""

from __future__ import annotations

from typing import Any

from ballast.api.modelversion import AutoscalingSpec
from ballast.build.serving import serving_child_metadata, serving_deployment_name

REPLICAS_HANDOVER_MANAGER = "ballast-replicas-handover"
"""Owns a Deployment's replicas between Ballast's last apply with them and the autoscaler's first
change; never applied again while the autoscaler is in charge."""


def serving_autoscaler_name(version: str) -> str:
    """The autoscaler is named after the Deployment it scales."""
    return serving_deployment_name(version)


def build_serving_autoscaler(version: dict[str, Any], autoscaling: AutoscalingSpec) -> dict[str, Any]:
    """An autoscaling/v2 HorizontalPodAutoscaler of the version's serving Deployment, owned by
    the version (the garbage collector removes it with the version)."""
    deployment = serving_deployment_name(version["metadata"]["name"])
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        # named after the Deployment it scales (serving_autoscaler_name)
        "metadata": serving_child_metadata(version),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment},
            "minReplicas": autoscaling.min_replicas,
            "maxReplicas": autoscaling.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": autoscaling.target_cpu_utilization},
                    },
                }
            ],
            "behavior": {
                "scaleDown": {"stabilizationWindowSeconds": autoscaling.scale_down_stabilization_seconds},
            },
        },
    }


def handover_replicas(running: int, autoscaling: AutoscalingSpec) -> int:
    """What the Deployment keeps until the autoscaler decides: the pods it runs now, within the
    autoscaler's bounds (it would move there at its first sync anyway)."""
    return min(max(running, autoscaling.min_replicas), autoscaling.max_replicas)


def build_replicas_handover(version: dict[str, Any], replicas: int) -> dict[str, Any]:
    """A Deployment apply that names only its replicas, for REPLICAS_HANDOVER_MANAGER: applied
    to an existing Deployment only (alone it is not a whole Deployment the API server would create)."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": serving_deployment_name(version["metadata"]["name"]),
            "namespace": version["metadata"]["namespace"],
        },
        "spec": {"replicas": replicas},
    }
