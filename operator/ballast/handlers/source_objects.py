"""The labels of the claim and Secret a Dataset's source names, read for ballast.build.policy.

Only metadata is asked for (a PartialObjectMetadata GET): the operator checks a Secret's
labels without ever receiving its data. RBAC still says `get secrets`, as Kubernetes has no
verb for metadata alone; the chart grants get, not list or watch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from kubernetes.client.exceptions import ApiException

from ballast.build.policy import SourceObjects, referenced_claim, referenced_secret
from ballast.kube_api import path, request

METADATA_ONLY = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"


def object_labels(namespace: str, plural: str, name: str) -> Mapping[str, str] | None:
    """The labels of a core/v1 object, {} when it has none, None when it does not exist."""
    try:
        document = request("GET", path("v1", plural, namespace, name), accept=METADATA_ONLY)
    except ApiException as error:
        if error.status == 404:
            return None
        raise
    return dict((document.get("metadata") or {}).get("labels") or {})


def source_objects_in(namespace: str) -> Callable[[Mapping], SourceObjects]:
    """A lookup for DatasetObservation.source_objects, bound to the Dataset's namespace."""

    def lookup(source: Mapping) -> SourceObjects:
        claim, secret = referenced_claim(source), referenced_secret(source)
        return SourceObjects(
            claim_labels=object_labels(namespace, "persistentvolumeclaims", claim) if claim else None,
            secret_labels=object_labels(namespace, "secrets", secret) if secret else None,
        )

    return lookup
