"""kopf handlers for ModelVersion: verify the artifact, then serve it according to its stage."""

from __future__ import annotations

from datetime import datetime

import kopf

from ballast.api.kinds import GROUP, VERSION
from ballast.build.serving import model_service_name, serving_deployment_name
from ballast.canary.samples import sample_from_scrapes
from ballast.canary.scrape import scrape
from ballast.handlers.apply import apply_outcome, plain_body
from ballast.handlers.context import SETTINGS, namespace_artifact_store, now
from ballast.handlers.indexes import one_of
from ballast.handlers.serving_pods import owned_pod_addresses
from ballast.reconcile.modelversion import reconcile_model_version
from ballast.reconcile.serving import approval_manager, in_transition, wants_samples
from ballast.registry import Verification, last_verification, verify_artifact


def _in_transition(spec: kopf.Spec, status: kopf.Status, **_) -> bool:
    return in_transition(dict(spec), dict(status))


@kopf.on.resume(GROUP, VERSION, "modelversions")
@kopf.on.create(GROUP, VERSION, "modelversions")
@kopf.on.update(GROUP, VERSION, "modelversions", field="spec")
@kopf.on.update(GROUP, VERSION, "modelversions", field="metadata.annotations")  # rollback requests
# create and resume verify already: the periodic re-check starts one interval later
@kopf.timer(
    GROUP,
    VERSION,
    "modelversions",
    interval=SETTINGS.verify_interval_seconds,
    initial_delay=SETTINGS.verify_interval_seconds,
)
def reconcile(
    body: kopf.Body,
    patch: kopf.Patch,
    model_versions: kopf.Index,
    ballast_deployments: kopf.Index,
    serving_pods: kopf.Index,
    model_services: kopf.Index,
    stuck_serving_pods: kopf.Index,
    refused_serving_pods: kopf.Index,
    serving_replica_sets: kopf.Index,
    **_,
) -> None:
    artifact = body.spec["artifact"]
    # only the namespace's own part of the store: another tenant's artifact is ArtifactOutsideStore
    verification = verify_artifact(
        namespace_artifact_store(body.metadata.namespace),
        artifact["uri"],
        artifact["sha256"],
        SETTINGS.artifact_max_bytes,
    )
    _reconcile(
        body,
        patch,
        verification,
        model_versions,
        ballast_deployments,
        serving_pods,
        model_services,
        stuck_serving_pods,
        refused_serving_pods,
        serving_replica_sets,
        verified_at=now(),
    )


@kopf.timer(GROUP, VERSION, "modelversions", interval=SETTINGS.poll_interval_seconds, when=_in_transition)
def follow_rollout(
    body: kopf.Body,
    patch: kopf.Patch,
    model_versions: kopf.Index,
    ballast_deployments: kopf.Index,
    serving_pods: kopf.Index,
    model_services: kopf.Index,
    stuck_serving_pods: kopf.Index,
    refused_serving_pods: kopf.Index,
    serving_replica_sets: kopf.Index,
    **_,
) -> None:
    """Between verifications, the rollout moves on from the last verification's outcome."""
    verification = last_verification(dict(body.status))
    if verification is not None:
        _reconcile(
            body,
            patch,
            verification,
            model_versions,
            ballast_deployments,
            serving_pods,
            model_services,
            stuck_serving_pods,
            refused_serving_pods,
            serving_replica_sets,
        )


def _reconcile(
    body: kopf.Body,
    patch: kopf.Patch,
    verification: Verification,
    model_versions: kopf.Index,
    ballast_deployments: kopf.Index,
    serving_pods: kopf.Index,
    model_services: kopf.Index,
    stuck_serving_pods: kopf.Index,
    refused_serving_pods: kopf.Index,
    serving_replica_sets: kopf.Index,
    verified_at: datetime | None = None,
) -> None:
    namespace = body.metadata.namespace
    siblings = list(model_versions.get((namespace, body.spec["model"]), []))
    samples = {}
    if wants_samples(dict(body.spec), dict(body.status), siblings, body.metadata.name):
        production = [s.name for s in siblings if s.stage == "Production"]
        uids = {**{s.name: s.uid for s in siblings}, body.metadata.name: body.metadata.uid}
        samples = {
            name: sample_from_scrapes(
                scrape(
                    owned_pod_addresses(
                        namespace,
                        name,
                        uids.get(name),
                        serving_pods=serving_pods,
                        serving_replica_sets=serving_replica_sets,
                        ballast_deployments=ballast_deployments,
                    )
                )
            )
            for name in [body.metadata.name, *production]
        }
    outcome = reconcile_model_version(
        plain_body(body),
        verification,
        now(),
        siblings=siblings,
        deployment=one_of(ballast_deployments, (namespace, serving_deployment_name(body.metadata.name))),
        settings=SETTINGS,
        samples=samples,
        approved_by=approval_manager(body.metadata.get("managedFields")),
        service_owners=one_of(model_services, (namespace, model_service_name(body.spec["model"]))) or frozenset(),
        pod_problem=one_of(stuck_serving_pods, (namespace, body.metadata.name)),
        start_refusal=one_of(refused_serving_pods, (namespace, body.metadata.name)),
        verified_at=verified_at,
    )
    apply_outcome(body, patch, outcome, SETTINGS)
