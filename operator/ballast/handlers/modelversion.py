"""Reconciles a ModelVersion: verify the artifact, then serve it according to its stage."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import kopf

from ballast.build.serving import model_service_name, serving_deployment_name
from ballast.canary.samples import sample_from_scrapes
from ballast.canary.scrape import scrape
from ballast.handlers.apply import plain_body
from ballast.handlers.context import SETTINGS, namespace_artifact_store, now
from ballast.handlers.indexes import one_of
from ballast.handlers.serving_pods import owned_pod_addresses
from ballast.reconcile.jobs import lasting_problem
from ballast.reconcile.modelversion import reconcile_model_version
from ballast.reconcile.outcome import Outcome, waking_by
from ballast.reconcile.serving import approval_manager, wants_samples
from ballast.registry import Verification, last_verification, verify_artifact


def reconcile(body: kopf.Body, memo: dict[str, Any], **indices: kopf.Index) -> Outcome:
    """The artifact is read and hashed again when the spec changed and every verify interval;
    in between, the rollout moves on from the last verification's outcome."""
    moment = now()
    verification = None if _verification_due(body, memo, moment) else last_verification(dict(body.status))
    if verification is None:
        artifact = body.spec["artifact"]
        # only the namespace's own part of the store: another tenant's artifact is ArtifactOutsideStore
        verification = verify_artifact(
            namespace_artifact_store(body.metadata.namespace),
            artifact["uri"],
            artifact["sha256"],
            SETTINGS.artifact_max_bytes,
        )
        memo[VERIFIED] = (body.metadata.get("generation"), moment)
    # the outcome's wake_at includes the next verification, an interval after this one
    return _reconcile(body, verification, verified_at=memo[VERIFIED][1], **indices)


VERIFIED = "verified"
"""The memo's (generation, time) of the last verification of the artifact's bytes."""


def _verification_due(body: kopf.Body, memo: dict[str, Any], moment: datetime) -> bool:
    verified = memo.get(VERIFIED)
    if verified is None or verified[0] != body.metadata.get("generation"):
        return True
    return (moment - verified[1]).total_seconds() >= SETTINGS.verify_interval_seconds


def _reconcile(
    body: kopf.Body,
    verification: Verification,
    model_versions: kopf.Index,
    ballast_deployments: kopf.Index,
    serving_pods: kopf.Index,
    model_services: kopf.Index,
    stuck_serving_pods: kopf.Index,
    refused_serving_pods: kopf.Index,
    serving_replica_sets: kopf.Index,
    verified_at: datetime,
    **_: kopf.Index,
) -> Outcome:
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
    moment = now()
    pod_problem, look_again = lasting_problem(one_of(stuck_serving_pods, (namespace, body.metadata.name)), moment)
    outcome = reconcile_model_version(
        plain_body(body),
        verification,
        moment,
        siblings=siblings,
        deployment=one_of(ballast_deployments, (namespace, serving_deployment_name(body.metadata.name))),
        settings=SETTINGS,
        samples=samples,
        approved_by=approval_manager(body.metadata.get("managedFields")),
        service_owners=one_of(model_services, (namespace, model_service_name(body.spec["model"]))) or frozenset(),
        pod_problem=pod_problem,
        start_refusal=one_of(refused_serving_pods, (namespace, body.metadata.name)),
        verified_at=verified_at,
    )
    return waking_by(outcome, look_again)
