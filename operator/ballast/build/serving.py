"""The serving workload of a ModelVersion, and the one stable Service of its model."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ballast.build.feedback_token import feedback_token_env, feedback_token_mount, feedback_token_volume
from ballast.build.naming import COMPONENT_LABEL, SERVING_COMPONENT, ballast_labels, child_name
from ballast.build.pods import ballast_container, owner_reference, pod_spec
from ballast.settings import Settings
from ballast.store.limits import ARTIFACT_MAX_BYTES_ENV

SERVING_PORT = 8080
REFERENCE_PATH = "/metrics/reference"
"""Where a model server answers its reference distribution, apart from /metrics: the same in every
pod of a version, the operator reads it from one pod and exports it once (ballast.reference_metrics)."""
SERVICE_PORT = 80
GRPC_PORT = 8081
"""The Open Inference Protocol's gRPC API, beside REST; the Service exposes it on the same number."""
GRPC_APP_PROTOCOL = "kubernetes.io/h2c"
"""HTTP/2 without TLS: what a mesh or a Gateway needs to know to route gRPC to the pods."""
MODEL_LABEL = "ballast.dev/model"
SPEC_HASH_ANNOTATION = "ballast.dev/spec-hash"
AUTOSCALED_ANNOTATION = "ballast.dev/autoscaled"
"""On a serving Deployment whose replicas a HorizontalPodAutoscaler sets (ballast.build.autoscaler)."""
VERSION_LABEL = "ballast.dev/model-version"


def serving_deployment_name(version: str) -> str:
    return child_name(version, "serve")


def model_service_name(model: str) -> str:
    return child_name(model)


def serving_selector(model: str) -> dict[str, str]:
    """What the model's Service selects: the serving pods of every version of the model."""
    return {"app.kubernetes.io/name": "ballast", COMPONENT_LABEL: SERVING_COMPONENT, MODEL_LABEL: model}


def build_serving_deployment(
    version: dict[str, Any], *, replicas: int | None, settings: Settings, autoscaler: dict[str, Any] | None = None
) -> dict[str, Any]:
    """replicas None: an autoscaler (the manifest given as autoscaler) is in charge of them, so
    the apply leaves them out; the spec hash covers the autoscaler's spec too, so a change to
    either applies both."""
    name = version["metadata"]["name"]
    spec = version["spec"]
    model = spec["model"]
    serving = spec.get("serving") or {}
    labels = {**ballast_labels(component=SERVING_COMPONENT, instance=name, model=model), VERSION_LABEL: name}
    pod_labels = {**labels, **serving_selector(model)}
    env = [
        {"name": "BALLAST_MODEL_NAME", "value": model},
        {"name": "BALLAST_MODEL_VERSION", "value": name},
        {"name": "BALLAST_ARTIFACT_URI", "value": spec["artifact"]["uri"]},
        {"name": "BALLAST_ARTIFACT_SHA256", "value": spec["artifact"]["sha256"]},
        {"name": "BALLAST_PORT", "value": str(SERVING_PORT)},
        {"name": "BALLAST_GRPC_PORT", "value": str(GRPC_PORT)},
        # the operator's own artifacts.maxBytes: a version it verified is one the server will read
        {"name": ARTIFACT_MAX_BYTES_ENV, "value": str(settings.artifact_max_bytes)},
        feedback_token_env(),
    ]
    # the server only reads the store: mounted read-only (ballast.build.pods.store_mount)
    container = ballast_container(
        name="server",
        args=["serve"],
        env=env,
        settings=settings,
        namespace=version["metadata"]["namespace"],
        read_only_store=True,
        resources=serving.get("resources"),
        extra_mounts=[feedback_token_mount()],
    )
    container["ports"] = [
        {"name": "http", "containerPort": SERVING_PORT, "protocol": "TCP"},
        {"name": "grpc", "containerPort": GRPC_PORT, "protocol": "TCP"},
    ]
    container["readinessProbe"] = {
        "httpGet": {"path": f"/v2/models/{model}/ready", "port": "http"},
        "periodSeconds": 2,
        "failureThreshold": 2,
    }
    container["livenessProbe"] = {
        "httpGet": {"path": "/v2/health/live", "port": "http"},
        "periodSeconds": 10,
        "failureThreshold": 3,
    }
    # loading and warming a large model can take a while; liveness must not kill it meanwhile
    container["startupProbe"] = {
        "httpGet": {"path": "/v2/health/live", "port": "http"},
        "periodSeconds": 2,
        "failureThreshold": 90,
    }
    pod = pod_spec([container], settings, restart_policy="Always", extra_volumes=[feedback_token_volume()])
    # readiness drops first, then in-flight requests finish: give them the time to
    pod["terminationGracePeriodSeconds"] = 30
    deployment_spec: dict[str, Any] = {
        "selector": {"matchLabels": {VERSION_LABEL: name, COMPONENT_LABEL: SERVING_COMPONENT}},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
        "template": {"metadata": {"labels": pod_labels}, "spec": pod},
    }
    if replicas is not None:
        deployment_spec["replicas"] = replicas
    annotations = {
        # what was applied, so a reconcile that would change nothing sends nothing
        SPEC_HASH_ANNOTATION: spec_hash(
            deployment_spec if autoscaler is None else {"deployment": deployment_spec, "autoscaler": autoscaler["spec"]}
        ),
    }
    if autoscaler is not None:
        # the index reads it: the autoscaler, not Ballast, owns this Deployment's replicas
        annotations[AUTOSCALED_ANNOTATION] = "true"
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": serving_deployment_name(name),
            "namespace": version["metadata"]["namespace"],
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [owner_reference(version)],
        },
        "spec": deployment_spec,
    }


def serving_child_metadata(version: dict[str, Any]) -> dict[str, Any]:
    """The metadata of a child of one version's serving (its NetworkPolicy, its autoscaler):
    named after its Deployment, with Ballast's labels, owned by the version (it goes with it)."""
    name = version["metadata"]["name"]
    model = version["spec"]["model"]
    return {
        "name": serving_deployment_name(name),
        "namespace": version["metadata"]["namespace"],
        "labels": {**ballast_labels(component=SERVING_COMPONENT, instance=name, model=model), VERSION_LABEL: name},
        "ownerReferences": [owner_reference(version)],
    }


def spec_hash(spec: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def build_model_service(model: str, namespace: str, owners: list[dict[str, Any]]) -> dict[str, Any]:
    """One Service per model. Every serving version of the model owns it (none as controller),
    so it lives while any of them does and the garbage collector removes it after the last."""
    references = [{**owner_reference(owner), "controller": False} for owner in owners]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": model_service_name(model),
            "namespace": namespace,
            "labels": ballast_labels(component=SERVING_COMPONENT, instance=model, model=model),
            "ownerReferences": references,
        },
        "spec": {
            "selector": serving_selector(model),
            "ports": [
                {"name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP"},
                {
                    "name": "grpc",
                    "port": GRPC_PORT,
                    "targetPort": "grpc",
                    "protocol": "TCP",
                    "appProtocol": GRPC_APP_PROTOCOL,
                },
            ],
        },
    }
