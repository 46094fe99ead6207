"""The operator's reads and writes of single objects, as JSON through the official client's
ApiClient (ballast.kube_api): Ballast objects and their status, children, Events."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from kubernetes.client.exceptions import ApiException

from ballast.api.kinds import API_VERSION
from ballast.kube_api import APPLY_PATCH, JSON_PATCH, path, request
from ballast.kube_status import status_document, status_message

log = logging.getLogger(__name__)


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
        request("POST", path("batch/v1", "jobs", manifest["metadata"]["namespace"]), body=manifest)
    except ApiException as error:
        _raise_unless_exists(error, manifest)


def delete_job(namespace: str, name: str) -> None:
    try:
        request("DELETE", path("batch/v1", "jobs", namespace, name), query={"propagationPolicy": "Background"})
    except ApiException as error:
        if error.status != 404:
            raise


def delete_autoscaler(namespace: str, name: str) -> None:
    """Remove a HorizontalPodAutoscaler; one already gone is fine."""
    try:
        request("DELETE", path("autoscaling/v2", "horizontalpodautoscalers", namespace, name))
    except ApiException as error:
        if error.status != 404:
            raise


def create_custom_object(plural: str, manifest: dict) -> bool:
    """Create a Ballast object; False when one of that name already exists."""
    try:
        request("POST", path(API_VERSION, plural, manifest["metadata"]["namespace"]), body=manifest)
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
        request("POST", path(f"{group}/{version}", plural, manifest["metadata"]["namespace"]), body=manifest)
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
        request(
            "DELETE", path(f"{group}/{version}", plural, namespace, name), query={"propagationPolicy": "Background"}
        )
    except ApiException as error:
        if error.status != 404:
            raise


def patch_custom_object_status(plural: str, namespace: str, name: str, operations: list[dict]) -> str | None:
    """Apply a JSON patch to a Ballast object's status; its new resourceVersion, or None when
    the object is gone or a `test` operation failed (the object no longer is what the patch
    was meant for)."""
    try:
        written = request(
            "PATCH", path(API_VERSION, plural, namespace, name, "status"), body=operations, content_type=JSON_PATCH
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
    try:
        request("GET", path("v1", "persistentvolumeclaims", namespace, name))
    except ApiException as error:
        if error.status != 404:
            raise
        try:
            request("POST", path("v1", "persistentvolumeclaims", namespace), body=manifest)
        except ApiException as create_error:
            _raise_unless_exists(create_error)


def read_service(namespace: str, name: str) -> dict | None:
    """The live Service as plain dicts, or None when there is none."""
    try:
        return request("GET", path("v1", "services", namespace, name))
    except ApiException as error:
        if error.status == 404:
            return None
        raise


def create_service(manifest: dict, *, field_manager: str) -> bool:
    """Create the Service; False when one of that name appeared meanwhile (the next reconcile
    judges whose it is, instead of an apply patching it here)."""
    try:
        request(
            "POST",
            path("v1", "services", manifest["metadata"]["namespace"]),
            body=manifest,
            query={"fieldManager": field_manager},
        )
        return True
    except ApiException as error:
        _raise_unless_exists(error, manifest)
        return False


def create_secret_if_absent(manifest: dict) -> bool:
    """Create the Secret unless one of that name exists, which is then left exactly as it is
    (its owners may have rotated it). Create only: the operator may not read Secrets."""
    try:
        request("POST", path("v1", "secrets", manifest["metadata"]["namespace"]), body=manifest)
        return True
    except ApiException as error:
        _raise_unless_exists(error, manifest)
        return False


APPLIED_KINDS: dict[tuple[str, str], str] = {
    ("apps/v1", "Deployment"): "deployments",
    ("v1", "Service"): "services",
    ("networking.k8s.io/v1", "NetworkPolicy"): "networkpolicies",
    ("autoscaling/v2", "HorizontalPodAutoscaler"): "horizontalpodautoscalers",
}
"""The children Ballast applies, by (apiVersion, kind): their plural."""


def server_side_apply(manifest: dict, *, field_manager: str, resource_version: str | None = None) -> None:
    """Create or update a child as declared. Server-side apply owns exactly the fields Ballast
    sets: drift in them is put back, and fields others set (an autoscaler's replicas) are left
    alone. With resource_version, the apply fails (409) unless the object is still the one
    judged at that version: force then never takes over an object that changed hands in between."""
    plural = APPLIED_KINDS[(manifest["apiVersion"], manifest["kind"])]
    if resource_version is not None:
        manifest = {**manifest, "metadata": {**manifest["metadata"], "resourceVersion": resource_version}}
    try:
        request(
            "PATCH",
            path(manifest["apiVersion"], plural, manifest["metadata"]["namespace"], manifest["metadata"]["name"]),
            body=manifest,
            query={"fieldManager": field_manager, "force": True},
            content_type=APPLY_PATCH,
        )
    except ApiException as error:
        _raise_if_namespace_terminating(error)
        _raise_if_refused(error, manifest)
        raise


def read_custom_object(plural: str, namespace: str, name: str) -> dict | None:
    """A Ballast object as the API server has it now; None when it is gone."""
    try:
        return request("GET", path(API_VERSION, plural, namespace, name))
    except ApiException as error:
        if error.status == 404:
            return None
        raise


def patch_status(plural: str, namespace: str, name: str, changes: dict) -> str | None:
    """A merge patch of the object's status: the fields given are set (None removes one), the
    others are left as they are. Its new resourceVersion; None, and nothing written, for an
    object deleted meanwhile."""
    try:
        written = request("PATCH", path(API_VERSION, plural, namespace, name, "status"), body={"status": changes})
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
        return request("PATCH", path(API_VERSION, plural, namespace, name), body=patch)
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
        request("POST", path("v1", "events", metadata["namespace"]), body=event)
    except ApiException as error:
        if error.status == 404 or (error.status == 403 and "NamespaceTerminating" in (error.body or "")):
            return
        raise
