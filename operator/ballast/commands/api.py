"""The user's view of the API: a kubeconfig's context, as kubectl picks it, or the pod's service account."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from ballast.api.kinds import GROUP, VERSION
from ballast.kubeconfig import context_namespace, pod_namespace

FIELD_MANAGER = "kubectl-ballast"
"""Who the API server records for the fields the commands write; status.approval.by names it."""


@dataclass(frozen=True)
class Target:
    """kubectl's connection flags: --kubeconfig, --context, -n/--namespace, -A/--all-namespaces."""

    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None
    all_namespaces: bool = False


@dataclass(frozen=True)
class Cluster:
    objects: client.CustomObjectsApi
    namespace: str | None
    """The namespace the command works in; None with --all-namespaces."""

    def require_namespace(self) -> str:
        if self.namespace is None:
            raise ValueError("this command works in one namespace")
        return self.namespace


def _in_a_pod(target: Target) -> bool:
    """No kubeconfig named and none at kubectl's default places, inside a pod: its service account."""
    if target.kubeconfig or target.context or os.environ.get("KUBECONFIG"):
        return False
    return not Path(config.kube_config.KUBE_CONFIG_DEFAULT_LOCATION).expanduser().exists() and bool(
        os.environ.get("KUBERNETES_SERVICE_HOST")
    )


def connect(target: Target) -> Cluster:
    """Raises kubernetes.config.ConfigException when no kubeconfig (or no such context) is found."""
    if _in_a_pod(target):
        config.load_incluster_config()
        api_client = client.ApiClient()
        default_namespace = pod_namespace()
    else:
        api_client = config.new_client_from_config(config_file=target.kubeconfig, context=target.context)
        default_namespace = context_namespace(target.kubeconfig, target.context)
    namespace = None if target.all_namespaces else target.namespace or default_namespace or "default"
    return Cluster(client.CustomObjectsApi(api_client), namespace)


def get(api: client.CustomObjectsApi, namespace: str, plural: str, name: str) -> dict | None:
    try:
        return api.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)
    except ApiException as error:
        if error.status == 404:
            return None
        raise


def list_all(api: client.CustomObjectsApi, namespace: str | None, plural: str) -> list[dict]:
    """Every object of the kind in the namespace, or in every namespace when it is None."""
    if namespace is None:
        return api.list_cluster_custom_object(GROUP, VERSION, plural)["items"]
    return api.list_namespaced_custom_object(GROUP, VERSION, namespace, plural)["items"]


def find(cluster: Cluster, plural: str, name: str) -> dict | None:
    """The named object in the command's namespace; with --all-namespaces, in whichever namespace
    holds one by that name (an error when several do)."""
    if cluster.namespace is not None:
        return get(cluster.objects, cluster.namespace, plural, name)
    found = [o for o in list_all(cluster.objects, None, plural) if o["metadata"]["name"] == name]
    if len(found) > 1:
        namespaces = ", ".join(sorted(o["metadata"]["namespace"] for o in found))
        raise AmbiguousName(f"{name} is in several namespaces ({namespaces}): name one with -n")
    return found[0] if found else None


class AmbiguousName(Exception):
    pass


def whoami(cluster: Cluster) -> str:
    """The user name the API server authenticates this client as (a SelfSubjectReview, what
    `kubectl auth whoami` asks): an approval names it."""
    review = client.AuthenticationV1Api(cluster.objects.api_client).create_self_subject_review(
        client.V1SelfSubjectReview()
    )
    return str(review.status.user_info.username)


def merge_patch(cluster: Cluster, plural: str, obj: dict, patch: dict) -> dict:
    """A JSON merge patch of the fields in `patch` only, recorded under FIELD_MANAGER."""
    metadata = obj["metadata"]
    return cluster.objects.patch_namespaced_custom_object(
        GROUP, VERSION, metadata["namespace"], plural, metadata["name"], patch, field_manager=FIELD_MANAGER
    )
