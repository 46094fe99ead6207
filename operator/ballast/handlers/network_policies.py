"""Ballast's NetworkPolicies deleted by hand are applied again at once, not only when their
owner next applies them (ballast.reconcile.network_policy_restore decides)."""

from __future__ import annotations

import kopf

from ballast import kube
from ballast.build.serving import MODEL_LABEL
from ballast.handlers.context import current_settings
from ballast.handlers.indexes import MANAGED, one_of
from ballast.reconcile.network_policy_restore import controller_reference, restored_network_policy


@kopf.on.event("networking.k8s.io", "v1", "networkpolicies", labels=MANAGED)
def restore_deleted(type: str, body: kopf.Body, ballast_datasets: kopf.Index, model_versions: kopf.Index, **_) -> None:
    if type != "DELETED":
        return
    deleted = {"metadata": dict(body.metadata)}
    owner = controller_reference(deleted["metadata"])
    if owner is None:
        return
    namespace = body.metadata.namespace
    if owner["kind"] == "Dataset":
        dataset = one_of(ballast_datasets, (namespace, owner["name"]))
        uid_now = dataset["metadata"].get("uid") if dataset else None
    else:
        model = body.metadata.labels.get(MODEL_LABEL)
        uid_now = next(
            (version.uid for version in model_versions.get((namespace, model), []) if version.name == owner["name"]),
            None,
        )
    manifest = restored_network_policy(deleted, uid_now, current_settings())
    if manifest is None:
        return
    try:
        kube.server_side_apply(manifest, field_manager="ballast")
    except kube.NamespaceTerminating:
        pass  # deleted with its namespace: nothing is left to protect
