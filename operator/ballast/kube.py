"""The few writes the operator makes besides status: create children, delete finished Jobs.

kopf writes status; everything else goes through the official client, created once.
"""

from __future__ import annotations

import functools
import json
import logging

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from ballast.api.kinds import GROUP, VERSION

log = logging.getLogger(__name__)


@functools.cache
def api_client() -> client.ApiClient:
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    return client.ApiClient()


class NamespaceTerminating(Exception):
    """The namespace is being deleted: nothing can be created in it, and nothing needs to be."""


def _already_exists(error: ApiException) -> bool:
    return error.status == 409


def _raise_if_namespace_terminating(error: ApiException) -> None:
    if error.status == 403 and "NamespaceTerminating" in (error.body or ""):
        raise NamespaceTerminating(str(error.reason)) from None


class ChildRefused(Exception):
    """The API server refused a child built from the object's spec (HTTP 400 or 422): the spec
    asks for something the cluster will not run, and trying again cannot change that."""

    def __init__(self, manifest: dict, error: ApiException) -> None:
        try:
            said = json.loads(error.body or "{}").get("message") or error.reason
        except ValueError:
            said = error.reason
        super().__init__(f"the API server refused {manifest['kind']} {manifest['metadata']['name']}: {said}")
        self.reason = f"Invalid{manifest['kind']}"


def _raise_if_refused(error: ApiException, manifest: dict) -> None:
    if error.status in (400, 422):
        raise ChildRefused(manifest, error) from None


def _raise_unless_exists(error: ApiException, manifest: dict | None = None) -> None:
    _raise_if_namespace_terminating(error)
    if manifest is not None:
        _raise_if_refused(error, manifest)
    if not _already_exists(error):
        raise error


def create_job(manifest: dict) -> None:
    """Create the Job unless one of that name exists: names are deterministic, so an existing
    Job is the one an earlier reconcile (or an earlier operator process) created."""
    try:
        client.BatchV1Api(api_client()).create_namespaced_job(manifest["metadata"]["namespace"], manifest)
    except ApiException as error:
        _raise_unless_exists(error, manifest)


def delete_job(namespace: str, name: str) -> None:
    try:
        client.BatchV1Api(api_client()).delete_namespaced_job(
            name, namespace, propagation_policy="Background")
    except ApiException as error:
        if error.status != 404:
            raise


def create_custom_object(plural: str, manifest: dict) -> bool:
    """Create a Ballast object; False when one of that name already exists."""
    try:
        client.CustomObjectsApi(api_client()).create_namespaced_custom_object(
            GROUP, VERSION, manifest["metadata"]["namespace"], plural, manifest)
        return True
    except ApiException as error:
        _raise_unless_exists(error, manifest)
        return False


def ensure_claim(manifest: dict) -> None:
    """Create the PersistentVolumeClaim unless it exists; an existing one is left as it is."""
    namespace, name = manifest["metadata"]["namespace"], manifest["metadata"]["name"]
    core = client.CoreV1Api(api_client())
    try:
        core.read_namespaced_persistent_volume_claim(name, namespace)
    except ApiException as error:
        if error.status != 404:
            raise
        try:
            core.create_namespaced_persistent_volume_claim(namespace, manifest)
        except ApiException as create_error:
            _raise_unless_exists(create_error)


_APPLY = {
    ("apps/v1", "Deployment"): lambda api: client.AppsV1Api(api).patch_namespaced_deployment,
    ("v1", "Service"): lambda api: client.CoreV1Api(api).patch_namespaced_service,
}


def server_side_apply(manifest: dict, *, field_manager: str) -> None:
    """Create or update a child as declared. Server-side apply owns exactly the fields Ballast
    sets: drift in them is put back, and fields others set (an HPA's replicas aside, which
    Ballast does set) are left alone."""
    patch = _APPLY[(manifest["apiVersion"], manifest["kind"])](api_client())
    try:
        patch(manifest["metadata"]["name"], manifest["metadata"]["namespace"], manifest,
              field_manager=field_manager, force=True, _content_type="application/apply-patch+yaml")
    except ApiException as error:
        _raise_if_namespace_terminating(error)
        _raise_if_refused(error, manifest)
        raise
