"""serving.autoscaling without a cluster: the HorizontalPodAutoscaler Ballast builds, the
Deployment apply that leaves its replicas to it, the hand-over of replicas Ballast set before,
and the autoscaler's removal."""

from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from ballast.api.modelversion import AutoscalingSpec
from ballast.build.autoscaler import (
    REPLICAS_HANDOVER_MANAGER,
    build_serving_autoscaler,
    handover_replicas,
)
from ballast.build.serving import AUTOSCALED_ANNOTATION, SPEC_HASH_ANNOTATION
from ballast.reconcile.modelversion import reconcile_model_version
from ballast.reconcile.serving import DeploymentState, Sibling
from tests.unit.test_reconcile_serving import NOW, OK, PRODUCTION, SETTINGS, version

REPO = Path(__file__).resolve().parents[2]

AUTOSCALING = {"minReplicas": 2, "maxReplicas": 5, "targetCpuUtilization": 50, "scaleDownStabilizationSeconds": 30}


def autoscaled(stage="Production", autoscaling=AUTOSCALING, **kwargs):
    body = version(stage=stage, promotedAt="2026-01-01T10:00:00Z", **kwargs)
    body["spec"]["serving"]["autoscaling"] = dict(autoscaling)
    return body


def reconcile(body, deployment=DeploymentState(), siblings=()):
    return reconcile_model_version(
        body, OK, NOW, siblings=list(siblings), deployment=deployment, settings=SETTINGS, service_owners=None
    )


def applied(outcome, kind):
    return [(manager, m) for manager, m in outcome.apply_manifests if m["kind"] == kind]


def serving_deployment(outcome):
    return next(m for manager, m in applied(outcome, "Deployment") if manager == "ballast")


def test_the_autoscaler_scales_the_versions_deployment_on_cpu_within_its_bounds():
    body = autoscaled()
    hpa = build_serving_autoscaler(body, AutoscalingSpec.model_validate(AUTOSCALING))
    assert (hpa["apiVersion"], hpa["kind"]) == ("autoscaling/v2", "HorizontalPodAutoscaler")
    target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": f"{body['metadata']['name']}-serve"}
    assert hpa["spec"]["scaleTargetRef"] == target
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 5)
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"] == {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}
    assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 30
    assert hpa["metadata"]["ownerReferences"][0]["uid"] == body["metadata"]["uid"]
    assert hpa["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "ballast"


def test_the_defaults_and_the_bounds_in_the_wrong_order_are_refused_naming_the_field():
    spec = AutoscalingSpec.model_validate({"maxReplicas": 3})
    assert (spec.min_replicas, spec.target_cpu_utilization, spec.scale_down_stabilization_seconds) == (1, 80, 300)
    with pytest.raises(ValidationError, match="minReplicas must not exceed"):
        AutoscalingSpec.model_validate({"minReplicas": 4, "maxReplicas": 3})
    with pytest.raises(ValidationError, match="maxReplicas"):
        AutoscalingSpec.model_validate({"minReplicas": 1})


def test_the_crd_refuses_min_above_max_through_cel_on_the_field():
    crd = yaml.safe_load((REPO / "crds" / "modelversions.ballast.dev.yaml").read_text())
    serving = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["serving"]
    autoscaling = serving["properties"]["autoscaling"]
    assert autoscaling["required"] == ["maxReplicas"]
    (rule,) = autoscaling["x-kubernetes-validations"]
    assert (rule["rule"], rule["fieldPath"]) == ("self.minReplicas <= self.maxReplicas", ".minReplicas")


def test_a_new_autoscaled_production_deployment_leaves_its_replicas_to_the_autoscaler():
    outcome = reconcile(autoscaled())
    deployment = serving_deployment(outcome)
    assert "replicas" not in deployment["spec"]
    assert deployment["metadata"]["annotations"][AUTOSCALED_ANNOTATION] == "true"
    kinds = [m["kind"] for _, m in outcome.apply_manifests]
    # the Deployment last: its spec hash says everything before it was applied
    assert kinds[-2:] == ["HorizontalPodAutoscaler", "Deployment"]
    # nothing to hand over on a Deployment that does not exist yet
    assert all(manager != REPLICAS_HANDOVER_MANAGER for manager, _ in outcome.apply_manifests)
    assert outcome.status["replicas"] == 2  # the fewest the autoscaler keeps


def test_replicas_ballast_set_are_handed_over_before_the_first_apply_without_them():
    running = DeploymentState(ready_replicas=3, spec_hash="before", replicas=3, uid="d-1")
    outcome = reconcile(autoscaled(), deployment=running)
    managers = [(manager, m["kind"]) for manager, m in outcome.apply_manifests]
    handover = managers.index((REPLICAS_HANDOVER_MANAGER, "Deployment"))
    assert handover < managers.index(("ballast", "HorizontalPodAutoscaler")) < managers.index(("ballast", "Deployment"))
    handed = outcome.apply_manifests[handover][1]
    assert handed["spec"] == {"replicas": 3}
    assert "replicas" not in serving_deployment(outcome)["spec"]


def test_the_handover_keeps_the_running_pods_within_the_autoscalers_bounds():
    spec = AutoscalingSpec.model_validate(AUTOSCALING)
    assert [handover_replicas(n, spec) for n in (0, 1, 2, 4, 9)] == [2, 2, 2, 4, 5]


def applied_with_autoscaler(running):
    """The Deployment as the index holds it once Ballast applied autoscaled() and the autoscaler
    moved it to `running` pods."""
    first = serving_deployment(reconcile(autoscaled()))
    spec_hash = first["metadata"]["annotations"][SPEC_HASH_ANNOTATION]
    return DeploymentState(running, spec_hash, replicas=running, uid="d-1", autoscaled=True)


def test_an_autoscaled_deployment_already_applied_is_left_alone_whatever_replicas_the_autoscaler_set():
    outcome = reconcile(autoscaled(), deployment=applied_with_autoscaler(running=5))
    assert outcome.apply_manifests == [] and outcome.delete_autoscalers == []


def test_changing_the_autoscaler_applies_it_again_without_a_second_handover():
    changed = autoscaled(autoscaling={**AUTOSCALING, "maxReplicas": 8})
    outcome = reconcile(changed, deployment=applied_with_autoscaler(running=4))
    ((_, hpa),) = applied(outcome, "HorizontalPodAutoscaler")
    assert hpa["spec"]["maxReplicas"] == 8
    assert [manager for manager, _ in applied(outcome, "Deployment")] == ["ballast"]


def test_switching_autoscaling_off_removes_the_autoscaler_and_ballast_sets_replicas_again():
    current = DeploymentState(ready_replicas=4, spec_hash="autoscaled", replicas=4, uid="d-1", autoscaled=True)
    outcome = reconcile(version(stage="Production", promotedAt="2026-01-01T10:00:00Z", replicas=3), deployment=current)
    assert outcome.delete_autoscalers == [f"{outcome_name()}-serve"]
    assert serving_deployment(outcome)["spec"]["replicas"] == 3
    assert AUTOSCALED_ANNOTATION not in serving_deployment(outcome)["metadata"]["annotations"]
    assert applied(outcome, "HorizontalPodAutoscaler") == []


def test_a_superseded_version_loses_its_autoscaler_before_it_is_scaled_down():
    newer = Sibling("iris-new", "Production", "2026-01-01T12:00:00Z", ready_replicas=2)
    current = DeploymentState(ready_replicas=4, spec_hash="autoscaled", replicas=4, uid="d-1", autoscaled=True)
    body = autoscaled(stage="Superseded", supersededAt="2026-01-01T11:00:00Z")
    outcome = reconcile_model_version(
        body, OK, NOW + timedelta(minutes=5), siblings=[newer], deployment=current, settings=SETTINGS
    )
    assert outcome.status["stage"] == "Superseded"
    assert outcome.delete_autoscalers == [f"{outcome_name()}-serve"]
    assert serving_deployment(outcome)["spec"]["replicas"] == 0


def test_a_canary_has_no_autoscaler_and_follows_productions_ready_pods():
    body = autoscaled(stage=None, strategy="Canary")
    scaled_production = Sibling(PRODUCTION.name, "Production", PRODUCTION.promoted_at, ready_replicas=9)
    outcome = reconcile(body, siblings=[scaled_production])
    assert outcome.status["stage"] == "Canary"
    assert applied(outcome, "HorizontalPodAutoscaler") == []
    assert serving_deployment(outcome)["spec"]["replicas"] == 1  # 9 * 10/90
    bigger = Sibling(PRODUCTION.name, "Production", PRODUCTION.promoted_at, ready_replicas=27)
    assert serving_deployment(reconcile(body, siblings=[bigger]))["spec"]["replicas"] == 3


def outcome_name():
    return version()["metadata"]["name"]
