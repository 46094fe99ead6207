"""What an ingest Job needs in place before it is created: its Dataset's NetworkPolicy
(ballast.build.ingest_network_policy)."""

from __future__ import annotations

from ballast import kube
from ballast.build.ingest_network_policy import build_ingest_network_policy
from ballast.build.jobs import INGEST_COMPONENT
from ballast.build.naming import is_component
from ballast.settings import Settings


def is_ingest_job(manifest: dict) -> bool:
    return is_component(manifest, "Job", INGEST_COMPONENT)


def restrict_ingest_egress(dataset: dict, settings: Settings) -> None:
    """Applied before every ingest Job, so drift in it (and the cluster's ranges found since the
    last one) is put right before a pod runs under it."""
    if settings.ingest_network_policy:
        kube.server_side_apply(build_ingest_network_policy(dataset, settings), field_manager="ballast")
