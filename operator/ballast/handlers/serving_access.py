"""What a serving Deployment needs in place before it is applied: its namespace's feedback
token and its version's NetworkPolicy (ballast.build.feedback_token, serving_network_policy)."""

from __future__ import annotations

from ballast import kube
from ballast.build.feedback_token import build_feedback_secret, new_feedback_token
from ballast.build.naming import SERVING_COMPONENT, is_component
from ballast.build.serving_network_policy import build_serving_network_policy
from ballast.settings import Settings


def is_serving_deployment(manifest: dict) -> bool:
    return is_component(manifest, "Deployment", SERVING_COMPONENT)


def provide_serving_access(version: dict, settings: Settings) -> None:
    """The Secret is created only if absent (a rotated token is never overwritten); the
    NetworkPolicy is applied like the Deployment, so drift in it is put back with it."""
    kube.create_secret_if_absent(build_feedback_secret(version["metadata"]["namespace"], new_feedback_token()))
    if settings.serving_network_policy:
        kube.server_side_apply(build_serving_network_policy(version, settings), field_manager="ballast")
