"""The operator's reads and writes of single objects, through the official client, created once:
Ballast objects and their status, children, Events."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from ballast.api.kinds import GROUP, VERSION
from ballast.kube_status import status_document, status_message

log = logging.getLogger(__name__)


# Connections kept open to the API server: at least as many as threads that call it at once
# (the reconcile workers, kopf's handler threads, the Lease's thread). With fewer, urllib3
# discards a connection after each burst and opens a new TLS connection for the next request.
API_CONNECTIONS = 24


@functools.cache
def api_client() -> client.ApiClient:
    """The client every call shares; its configuration becomes the default, which clients made
    elsewhere with client.ApiClient() (the Lease's) start from."""
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    configuration = client.Configuration.get_default_copy()
    configuration.connection_pool_maxsize = API_CONNECTIONS
    client.Configuration.set_default(configuration)
    return client.ApiClient()


def unparsed(call: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
    """A typed client call's answer as plain JSON. The operator works on dicts; deserializing
    into the client's models would import their classes (thousands of pydantic fields, some
    15 MiB resident) only to turn them back into dicts."""
    response = call(*args, _preload_content=False, **kwargs)
    document = json.loads(response.data or b"{}")
    return document if isinstance(document, dict) else {}


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
        said = status_message(error.body) or error.reason
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
        unparsed(client.BatchV1Api(api_client()).create_namespaced_job, manifest["metadata"]["namespace"], manifest)
    except ApiException as error:
        _raise_unless_exists(error, manifest)


def delete_job(namespace: str, name: str) -> None:
    try:
        unparsed(
            client.BatchV1Api(api_client()).delete_namespaced_job, name, namespace, propagation_policy="Background"
        )
    except ApiException as error:
        if error.status != 404:
            raise


def delete_autoscaler(namespace: str, name: str) -> None:
    """Remove a HorizontalPodAutoscaler; one already gone is fine."""
    try:
        unparsed(client.AutoscalingV2Api(api_client()).delete_namespaced_horizontal_pod_autoscaler, name, namespace)
    except ApiException as error:
        if error.status != 404:
            raise


def create_custom_object(plural: str, manifest: dict) -> bool:
    """Create a Ballast object; False when one of that name already exists."""
    try:
        client.CustomObjectsApi(api_client()).create_namespaced_custom_object(
            GROUP, VERSION, manifest["metadata"]["namespace"], plural, manifest
        )
        return True
    except ApiException as error:
        _raise_unless_exists(error, manifest)
        return False


class KindNotServed(ChildRefused):
    """The API server does not serve a child's kind (404 on create: the CRD of the operator that
    runs it is not installed). Waiting will not install it: a person has to."""

    def __init__(self, reason: str, message: str) -> None:
        Exception.__init__(self, message)
        self.reason = reason


def create_engine_object(group: str, version: str, plural: str, manifest: dict, *, missing: tuple[str, str]) -> bool:
    """Create an object of another operator's API unless one of that name exists (False then);
    KindNotServed with `missing` (reason, message) when the cluster does not serve the kind."""
    try:
        client.CustomObjectsApi(api_client()).create_namespaced_custom_object(
            group, version, manifest["metadata"]["namespace"], plural, manifest
        )
        return True
    except ApiException as error:
        if error.status == 404 and _kind_not_served(error):
            raise KindNotServed(*missing) from None
        _raise_unless_exists(error, manifest)
        return False


def _kind_not_served(error: ApiException) -> bool:
    """A 404 about the resource itself, not about a namespace that is gone."""
    return (status_document(error.body).get("details") or {}).get("kind") != "namespaces"


def delete_engine_object(group: str, version: str, plural: str, namespace: str, name: str) -> None:
    """Delete another operator's object and, in the background, what it owns; gone is fine."""
    try:
        client.CustomObjectsApi(api_client()).delete_namespaced_custom_object(
            group, version, namespace, plural, name, propagation_policy="Background"
        )
    except ApiException as error:
        if error.status != 404:
            raise


def patch_custom_object_status(plural: str, namespace: str, name: str, operations: list[dict]) -> str | None:
    """Apply a JSON patch to a Ballast object's status; its new resourceVersion, or None when
    the object is gone or a `test` operation failed (the object no longer is what the patch
    was meant for)."""
    try:
        written = client.CustomObjectsApi(api_client()).patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, plural, name, operations, _content_type="application/json-patch+json"
        )
    except ApiException as error:
        if error.status in (404, 422):
            return None
        raise
    return _resource_version(written)


def _resource_version(written: object) -> str | None:
    """The resourceVersion of the object a write returned."""
    return written.get("metadata", {}).get("resourceVersion") if isinstance(written, dict) else None


def ensure_claim(manifest: dict) -> None:
    """Create the PersistentVolumeClaim unless it exists; an existing one is left as it is."""
    namespace, name = manifest["metadata"]["namespace"], manifest["metadata"]["name"]
    core = client.CoreV1Api(api_client())
    try:
        unparsed(core.read_namespaced_persistent_volume_claim, name, namespace)
    except ApiException as error:
        if error.status != 404:
            raise
        try:
            unparsed(core.create_namespaced_persistent_volume_claim, namespace, manifest)
        except ApiException as create_error:
            _raise_unless_exists(create_error)


def read_service(namespace: str, name: str) -> dict | None:
    """The live Service as plain dicts, or None when there is none."""
    try:
        return unparsed(client.CoreV1Api(api_client()).read_namespaced_service, name, namespace)
    except ApiException as error:
        if error.status == 404:
            return None
        raise


def create_service(manifest: dict, *, field_manager: str) -> bool:
    """Create the Service; False when one of that name appeared meanwhile (the next reconcile
    judges whose it is, instead of an apply patching it here)."""
    try:
        unparsed(
            client.CoreV1Api(api_client()).create_namespaced_service,
            manifest["metadata"]["namespace"],
            manifest,
            field_manager=field_manager,
        )
        return True
    except ApiException as error:
        _raise_unless_exists(error, manifest)
        return False


def create_secret_if_absent(manifest: dict) -> bool:
    """Create the Secret unless one of that name exists, which is then left exactly as it is
    (its owners may have rotated it). Create only: the operator may not read Secrets."""
    try:
        unparsed(client.CoreV1Api(api_client()).create_namespaced_secret, manifest["metadata"]["namespace"], manifest)
        return True
    except ApiException as error:
        _raise_unless_exists(error, manifest)
        return False


_APPLY = {
    ("apps/v1", "Deployment"): lambda api: client.AppsV1Api(api).patch_namespaced_deployment,
    ("v1", "Service"): lambda api: client.CoreV1Api(api).patch_namespaced_service,
    ("networking.k8s.io/v1", "NetworkPolicy"): lambda api: client.NetworkingV1Api(api).patch_namespaced_network_policy,
    ("autoscaling/v2", "HorizontalPodAutoscaler"): lambda api: (
        client.AutoscalingV2Api(api).patch_namespaced_horizontal_pod_autoscaler
    ),
}


def server_side_apply(manifest: dict, *, field_manager: str, resource_version: str | None = None) -> None:
    """Create or update a child as declared. Server-side apply owns exactly the fields Ballast
    sets: drift in them is put back, and fields others set (an autoscaler's replicas) are left
    alone. With resource_version, the apply fails (409) unless the object is still the one
    judged at that version: force then never takes over an object that changed hands in between."""
    patch = _APPLY[(manifest["apiVersion"], manifest["kind"])](api_client())
    if resource_version is not None:
        manifest = {**manifest, "metadata": {**manifest["metadata"], "resourceVersion": resource_version}}
    try:
        unparsed(
            patch,
            manifest["metadata"]["name"],
            manifest["metadata"]["namespace"],
            manifest,
            field_manager=field_manager,
            force=True,
            _content_type="application/apply-patch+yaml",
        )
    except ApiException as error:
        _raise_if_namespace_terminating(error)
        _raise_if_refused(error, manifest)
        raise


def read_custom_object(plural: str, namespace: str, name: str) -> dict | None:
    """A Ballast object as the API server has it now; None when it is gone."""
    try:
        return client.CustomObjectsApi(api_client()).get_namespaced_custom_object(
            GROUP, VERSION, namespace, plural, name
        )
    except ApiException as error:
        if error.status == 404:
            return None
        raise


def patch_status(plural: str, namespace: str, name: str, changes: dict) -> str | None:
    """A merge patch of the object's status: the fields given are set (None removes one), the
    others are left as they are. Its new resourceVersion; None, and nothing written, for an
    object deleted meanwhile."""
    try:
        written = client.CustomObjectsApi(api_client()).patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, plural, name, {"status": changes}
        )
    except ApiException as error:
        if error.status != 404:
            raise
        return None
    return _resource_version(written)


def set_finalizers(plural: str, namespace: str, name: str, finalizers: list[str], resource_version: str) -> dict | None:
    """The object's finalizers replaced, only if it is still at resource_version (a finalizer
    another controller adds meanwhile is never lost: the write fails with 409 and is retried).
    The object as written; None when it is gone."""
    patch = {"metadata": {"finalizers": finalizers, "resourceVersion": resource_version}}
    try:
        return client.CustomObjectsApi(api_client()).patch_namespaced_custom_object(
            GROUP, VERSION, namespace, plural, name, patch
        )
    except ApiException as error:
        if error.status == 404:
            return None
        raise


EVENT_MESSAGE_LIMIT = 1024
"""What `kubectl describe` shows comfortably; the status condition keeps the longer text."""


def post_event(involved: dict, *, type: str, reason: str, message: str, reporter: str) -> None:
    """A core/v1 Event about a Ballast object, as `kubectl describe` and `kubectl events` show
    it. An Event into a namespace being deleted, or about an object gone, is dropped: it
    would go with them."""
    metadata = involved["metadata"]
    moment = datetime.now(UTC).isoformat()
    event = {
        "metadata": {"namespace": metadata["namespace"], "generateName": f"{metadata['name']}."},
        "type": type,
        "reason": reason,
        "message": message[:EVENT_MESSAGE_LIMIT],
        "action": reason,
        "reportingComponent": "ballast.dev/operator",
        "reportingInstance": reporter,
        "source": {"component": "ballast"},
        "involvedObject": {
            "apiVersion": involved["apiVersion"],
            "kind": involved["kind"],
            "name": metadata["name"],
            "namespace": metadata["namespace"],
            "uid": metadata.get("uid"),
        },
        "firstTimestamp": moment,
        "lastTimestamp": moment,
        "count": 1,
    }
    try:
        unparsed(client.CoreV1Api(api_client()).create_namespaced_event, metadata["namespace"], event)
    except ApiException as error:
        if error.status == 404 or (error.status == 403 and "NamespaceTerminating" in (error.body or "")):
            return
        raise
