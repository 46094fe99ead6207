"""The user's view of the API: the kubeconfig's current context, or the pod's service account."""

from __future__ import annotations

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from ballast.api.kinds import GROUP, VERSION


def custom_objects() -> client.CustomObjectsApi:
    try:
        config.load_kube_config()
    except config.ConfigException:
        config.load_incluster_config()
    return client.CustomObjectsApi()


def current_namespace() -> str:
    try:
        _, context = config.list_kube_config_contexts()
        return context["context"].get("namespace") or "default"
    except (config.ConfigException, TypeError, KeyError):
        return "default"


def get(api: client.CustomObjectsApi, namespace: str, plural: str, name: str) -> dict | None:
    try:
        return api.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)
    except ApiException as error:
        if error.status == 404:
            return None
        raise


def list_all(api: client.CustomObjectsApi, namespace: str, plural: str) -> list[dict]:
    return api.list_namespaced_custom_object(GROUP, VERSION, namespace, plural)["items"]
