"""Carries out a model's Service as ballast.reconcile.service_claim judges the live one."""

from __future__ import annotations

from kubernetes.client.exceptions import ApiException

from ballast import kube
from ballast.build.serving import MODEL_LABEL
from ballast.reconcile.service_claim import ServiceAction, ServiceClaim, claim_model_service


def claim_and_apply_service(manifest: dict, *, field_manager: str) -> ServiceClaim:
    """Create the Service if absent, apply it if Ballast's, leave it alone otherwise."""
    metadata = manifest["metadata"]
    live = kube.read_service(metadata["namespace"], metadata["name"])
    claim = claim_model_service(live, metadata["labels"][MODEL_LABEL])
    if claim.action is ServiceAction.CREATE:
        kube.create_service(manifest, field_manager=field_manager)
    elif claim.action is ServiceAction.APPLY:
        try:
            kube.server_side_apply(manifest, field_manager=field_manager, resource_version=claim.resource_version)
        except ApiException as error:
            if error.status != 409:
                raise
            # changed since it was judged: the next reconcile judges it again (the version is
            # still missing from the Service's owners, which is what asks for the apply)
    return claim
