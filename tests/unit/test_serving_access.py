"""Row 6 of issue 12, the operator's side: the feedback token the serving pods read, and the
NetworkPolicy that says who reaches them."""

import pytest

from ballast.build.feedback_token import FEEDBACK_TOKEN_FILE, build_feedback_secret, new_feedback_token
from ballast.build.serving import GRPC_PORT, SERVING_PORT, build_model_service, build_serving_deployment
from ballast.build.serving_network_policy import build_serving_network_policy
from ballast.settings import Settings
from tests.support.helm import find, rendered

VERSION = {
    "apiVersion": "ballast.dev/v1alpha1",
    "kind": "ModelVersion",
    "metadata": {"name": "iris-v1", "namespace": "team-a", "uid": "u-1"},
    "spec": {"model": "iris", "artifact": {"uri": "file:///var/lib/ballast/team-a/m.skops", "sha256": "a" * 64}},
}
PROMETHEUS = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}


def test_serving_pods_read_the_token_from_a_read_only_file_of_the_namespaces_secret():
    pod = build_serving_deployment(VERSION, replicas=1, settings=Settings())["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert {"name": "BALLAST_FEEDBACK_TOKEN_FILE", "value": "/var/run/ballast/feedback/token"} in container["env"]
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == "/var/run/ballast/feedback")
    assert mount["readOnly"] is True
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert volume["secret"]["secretName"] == "ballast-feedback"
    assert volume["secret"]["items"] == [{"key": "token", "path": "token"}]
    assert FEEDBACK_TOKEN_FILE == "/var/run/ballast/feedback/token"


def test_the_feedback_secret_is_ballasts_has_no_owner_and_a_fresh_random_token():
    secret = build_feedback_secret("team-a", new_feedback_token())
    assert secret["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "ballast"
    assert "ownerReferences" not in secret["metadata"]  # it outlives versions; a rotation survives them
    assert len(secret["stringData"]["token"]) >= 43 and new_feedback_token() != new_feedback_token()


def test_the_network_policy_admits_the_inference_peers_the_operator_and_prometheus_to_both_ports():
    settings = Settings(operator_namespace="ballast-system", serving_metrics_from=(PROMETHEUS,))
    policy = build_serving_network_policy(VERSION, settings)
    assert policy["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    assert policy["spec"]["podSelector"]["matchLabels"] == {
        "ballast.dev/model-version": "iris-v1",
        "app.kubernetes.io/component": "serving",
    }
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    (rule,) = policy["spec"]["ingress"]
    assert rule["ports"] == [{"port": SERVING_PORT, "protocol": "TCP"}, {"port": GRPC_PORT, "protocol": "TCP"}]
    assert rule["from"] == [
        {"podSelector": {}},  # the default: the version's own namespace
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ballast-system"}}},
        PROMETHEUS,
    ]


def test_no_peer_at_all_admits_nobody_rather_than_everyone():
    policy = build_serving_network_policy(VERSION, Settings(serving_inference_from=()))
    assert policy["spec"]["ingress"] == []


def test_the_chart_settings_reach_the_policy():
    settings = Settings.from_env(
        {
            "BALLAST_OPERATOR_NAMESPACE": "ops",
            "BALLAST_SERVING_NETWORK_POLICY": "false",
            "BALLAST_SERVING_INFERENCE_FROM": '[{"namespaceSelector": {"matchLabels": {"team": "web"}}}]',
            "BALLAST_SERVING_METRICS_FROM": "[]",
        }
    )
    assert settings.serving_network_policy is False and settings.operator_namespace == "ops"
    assert settings.serving_inference_from == ({"namespaceSelector": {"matchLabels": {"team": "web"}}},)
    defaults = Settings.from_env({})
    assert defaults.serving_network_policy is True and defaults.serving_inference_from == ({"podSelector": {}},)


@pytest.mark.tools
def test_the_chart_passes_the_serving_network_policy_values_to_the_operator():
    values = {"serving.networkPolicy.enabled": False, "serving.networkPolicy.metricsFrom": [PROMETHEUS]}
    (deployment,) = find(rendered(values), "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
    settings = Settings.from_env({k: v for k, v in env.items() if isinstance(v, str)})
    assert settings.serving_network_policy is False and settings.serving_metrics_from == (PROMETHEUS,)
    assert env["BALLAST_OPERATOR_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}


def test_the_grpc_api_is_a_named_port_of_the_pods_and_of_the_models_service():
    (container,) = build_serving_deployment(VERSION, replicas=1, settings=Settings())["spec"]["template"]["spec"][
        "containers"
    ]
    assert {"name": "BALLAST_GRPC_PORT", "value": str(GRPC_PORT)} in container["env"]
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"http": SERVING_PORT, "grpc": GRPC_PORT}
    service = build_model_service("iris", "team-a", [VERSION])
    grpc_port = next(p for p in service["spec"]["ports"] if p["name"] == "grpc")
    assert grpc_port == {
        "name": "grpc",
        "port": GRPC_PORT,
        "targetPort": "grpc",
        "protocol": "TCP",
        "appProtocol": "kubernetes.io/h2c",
    }
