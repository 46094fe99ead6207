"""The NetworkPolicy of a Dataset's ingest pods (ballast.build.ingest_network_policy): the egress
policy the pod enforces in-process, one layer down; applied before the ingest Job is created."""

from __future__ import annotations

import ipaddress

import kopf
import pytest

from ballast import kube
from ballast.build.ingest_network_policy import build_ingest_network_policy
from ballast.build.jobs import build_ingest_job
from ballast.handlers.apply import _create_and_delete_children
from ballast.net.egress import DEFAULT_DENIED, EgressPolicy, ipv6_forms
from ballast.reconcile.outcome import Outcome
from ballast.settings import Settings
from tests.support.helm import find, rendered

DATASET = {
    "apiVersion": "ballast.dev/v1alpha1",
    "kind": "Dataset",
    "metadata": {"name": "iris", "namespace": "team-a", "uid": "d-1", "generation": 1},
    "spec": {"source": {"url": "https://example.com/iris.csv"}, "format": "csv"},
    "status": {},
}
CLUSTER = EgressPolicy.from_strings(
    allow=["10.244.0.0/16", "10.96.0.10:9090", "prometheus.monitoring.svc:9090", "203.0.113.0/24", "127.0.0.0/8"],
    cluster_cidrs=["10.96.0.0/16", "10.244.0.0/16", "fd00:10:96::/112"],
)
MINIO = {
    "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "minio"}}}],
    "ports": [{"port": 9000, "protocol": "TCP"}],
}


def policy(settings: Settings = Settings(egress=CLUSTER)) -> dict:
    return build_ingest_network_policy(DATASET, settings)


def excepted(built: dict, everything: str) -> list[str]:
    (_, reach, *_) = built["spec"]["egress"]
    return next(peer["ipBlock"].get("except", []) for peer in reach["to"] if peer["ipBlock"]["cidr"] == everything)


def test_it_selects_this_datasets_ingest_pods_only_and_goes_with_the_dataset():
    built = policy()
    assert built["metadata"]["name"] == "iris-ingest" and built["metadata"]["namespace"] == "team-a"
    assert built["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "ballast.dev/v1alpha1",
            "kind": "Dataset",
            "name": "iris",
            "uid": "d-1",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert built["spec"]["policyTypes"] == ["Egress"]
    selector = built["spec"]["podSelector"]["matchLabels"]
    pod_labels = build_ingest_job(DATASET, job_name="iris-ingest-g1-r0", settings=Settings())["spec"]["template"][
        "metadata"
    ]["labels"]
    assert selector == {"app.kubernetes.io/component": "ingest", "app.kubernetes.io/instance": "iris"}
    assert selector.items() <= pod_labels.items()
    assert built["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "ballast"


def test_dns_and_everything_outside_the_refused_networks_is_reachable():
    dns, reach, *_ = policy()["spec"]["egress"]
    assert dns == {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}
    assert "to" not in dns  # wherever the pod's resolver is, node-local caches (link-local) included
    assert [peer["ipBlock"]["cidr"] for peer in reach["to"]] == ["0.0.0.0/0", "::/0"]
    assert "ports" not in reach


def test_the_except_lists_are_the_egress_policys_own_ranges_but_loopback():
    built = policy()
    v4, v6 = excepted(built, "0.0.0.0/0"), excepted(built, "::/0")
    for network, _ in DEFAULT_DENIED:  # one source: nothing restated in the builder
        listed = str(network) in (v4 if network.version == 4 else v6)
        assert listed != network.is_loopback, network
    assert {"169.254.0.0/16", "100.100.100.200/32", "168.63.129.16/32", "10.96.0.0/16", "10.244.0.0/16"} <= set(v4)
    assert {"fe80::/10", "fd00:ec2::254/128", "fd00:10:96::/112"} <= set(v6)
    # an IPv6 address carrying a refused IPv4 one (NAT64, 6to4) is refused in-process, so here too,
    # loopback's among them: through a gateway it is another host's loopback
    assert {"64:ff9b::a9fe:0/112", "2002:a9fe::/32", "64:ff9b::a60:0/112", "64:ff9b::7f00:0/104"} <= set(v6)
    for cidr in v4 + v6:  # the API server refuses an except that is not inside its cidr
        assert ipaddress.ip_network(cidr).prefixlen > 0
    assert len(v4) == len(set(v4)) and len(v6) == len(set(v6))


def test_ipv6_forms_are_what_the_in_process_check_reads_back():
    nat64, sixtofour = ipv6_forms(ipaddress.IPv4Network("169.254.0.0/16"))
    assert (str(nat64), str(sixtofour)) == ("64:ff9b::a9fe:0/112", "2002:a9fe::/32")
    for address in ("64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::1"):
        assert EgressPolicy().denied_range(ipaddress.ip_address(address), 80) is not None
        assert ipaddress.ip_address(address) in (nat64 if address.startswith("64") else sixtofour)


def test_allowed_addresses_inside_the_refused_networks_are_reachable_on_their_port():
    rules = policy()["spec"]["egress"][2:]
    assert rules == [
        {"to": [{"ipBlock": {"cidr": "10.244.0.0/16"}}]},
        {"to": [{"ipBlock": {"cidr": "10.96.0.10/32"}}], "ports": [{"port": 9090, "protocol": "TCP"}]},
    ]
    # 203.0.113.0/24 is reachable anyway, loopback is not policed, and a host name has no
    # NetworkPolicy form (docs/security.md: list its address too)


def test_extra_rules_are_added_and_the_default_has_no_allow_rule():
    built = policy(Settings(egress=EgressPolicy(), ingest_extra_egress=(MINIO,)))
    assert built["spec"]["egress"][2:] == [MINIO]
    assert excepted(built, "0.0.0.0/0")  # the default denies alone, without discovered ranges


def test_the_settings_come_from_the_environment():
    settings = Settings.from_env(
        {
            "BALLAST_INGEST_NETWORK_POLICY": "false",
            "BALLAST_INGEST_EXTRA_EGRESS": '[{"to": [{"ipBlock": {"cidr": "10.0.0.5/32"}}]}]',
        }
    )
    assert settings.ingest_network_policy is False
    assert settings.ingest_extra_egress == ({"to": [{"ipBlock": {"cidr": "10.0.0.5/32"}}]},)
    assert Settings.from_env({}).ingest_network_policy is True


class FakeApi:
    def __init__(self, monkeypatch):
        self.calls: list[tuple[str, str]] = []
        monkeypatch.setattr(kube, "ensure_claim", lambda manifest: None)
        self.secrets: list[dict] = []
        monkeypatch.setattr(kube, "create_secret_if_absent", self.secrets.append)
        monkeypatch.setattr(
            kube,
            "server_side_apply",
            lambda manifest, **_: self.calls.append(("apply", manifest["kind"], manifest["metadata"]["name"])),
        )
        monkeypatch.setattr(
            kube,
            "create_job",
            lambda manifest: self.calls.append(("create", manifest["kind"], manifest["metadata"]["name"])),
        )


def test_the_policy_is_applied_before_each_ingest_job_is_created(monkeypatch):
    api = FakeApi(monkeypatch)
    settings = Settings(egress=CLUSTER)
    job = build_ingest_job(DATASET, job_name="iris-ingest-g1-r0", settings=settings)
    _create_and_delete_children(kopf.Body(DATASET), Outcome(create_jobs=[job]), settings)
    assert api.calls == [("apply", "NetworkPolicy", "iris-ingest"), ("create", "Job", "iris-ingest-g1-r0")]


def test_no_policy_when_turned_off(monkeypatch):
    api = FakeApi(monkeypatch)
    settings = Settings(ingest_network_policy=False)
    job = build_ingest_job(DATASET, job_name="iris-ingest-g1-r0", settings=settings)
    _create_and_delete_children(kopf.Body(DATASET), Outcome(create_jobs=[job]), settings)
    assert api.calls == [("create", "Job", "iris-ingest-g1-r0")]


@pytest.mark.tools
def test_the_chart_passes_the_ingest_network_policy_values_to_the_operator():
    values = {"egress.networkPolicy.enabled": False, "egress.networkPolicy.extraEgress": [MINIO]}
    (deployment,) = find(rendered(values), "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    settings = Settings.from_env(env)
    assert settings.ingest_network_policy is False and settings.ingest_extra_egress == (MINIO,)
    assert env["BALLAST_EGRESS_REDISCOVER_SECONDS"] == "300"
