"""The egress policy: which addresses Ballast reads from on a user's behalf (ballast.net.egress)."""

from __future__ import annotations

import ipaddress

import pytest

from ballast.net.egress import (
    ALLOW_ENV,
    CLUSTER_CIDRS_ENV,
    EGRESS_DENIED,
    EgressDenied,
    EgressPolicy,
    Refusal,
    check_url,
    checked_addresses,
    parse_allow_rule,
)
from ballast.settings import Settings

DEFAULT = EgressPolicy()


def resolver(table: dict[str, list[str]]):
    """A DNS of our own: names to addresses, nothing else resolves."""

    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError(f"{host} does not resolve")
        return table[host]

    return resolve


@pytest.mark.parametrize(
    "address, named",
    [
        ("127.0.0.1", "loopback"),
        ("127.10.20.30", "loopback"),
        ("::1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("169.254.0.1", "link-local"),
        ("fe80::1", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("::", "unspecified"),
        ("100.100.100.200", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "link-local"),
        ("64:ff9b::a9fe:a9fe", "link-local"),
    ],
)
def test_every_default_range_is_refused(address: str, named: str):
    host = f"[{address}]" if ":" in address else address
    refusal = check_url(f"http://{host}:9090/api", DEFAULT, resolver({}))
    assert refusal is not None and refusal.reason == EGRESS_DENIED == "EgressDenied"
    assert named in refusal.message and "egress.allow" in refusal.message


@pytest.mark.parametrize(
    "url",
    ["http://93.184.216.34/data.csv", "https://[2606:4700::1111]/x", "http://10.1.2.3:9090", "https://192.168.1.10/x"],
)
def test_other_addresses_are_read(url: str):
    assert check_url(url, DEFAULT, resolver({})) is None


def test_a_name_is_refused_when_any_address_it_resolves_to_is_denied():
    names = resolver(
        {
            "metadata.example": ["169.254.169.254"],
            "mixed.example": ["93.184.216.34", "127.0.0.1"],
            "fine.example": ["93.184.216.34", "2606:4700::1111"],
        }
    )
    refusal = check_url("http://metadata.example/latest/meta-data/", DEFAULT, names)
    assert refusal is not None and "metadata.example (169.254.169.254)" in refusal.message
    assert check_url("http://mixed.example/", DEFAULT, names) is not None
    assert check_url("http://fine.example/", DEFAULT, names) is None
    target, addresses = checked_addresses("http://fine.example:8080/x", DEFAULT, names)
    assert (target.host, target.port, addresses) == ("fine.example", 8080, ["93.184.216.34", "2606:4700::1111"])
    with pytest.raises(EgressDenied, match="loopback"):
        checked_addresses("http://mixed.example/", DEFAULT, names)


def test_the_clusters_ranges_are_refused():
    policy = EgressPolicy.from_strings(cluster_cidrs=["10.96.0.0/12", "10.244.0.0/16", "fd00:10:96::/112"])
    for url in ("http://10.96.0.10:53/", "http://10.244.1.7:8080/", "http://[fd00:10:96::1]/"):
        refusal = check_url(url, policy, resolver({}))
        assert refusal is not None and "the cluster's service or pod range" in refusal.message, url
    assert check_url("http://10.245.0.1/", policy, resolver({})) is None
    discovered = policy.with_cluster_ranges(
        [ipaddress.ip_network("10.245.0.0/16"), ipaddress.ip_network("10.96.0.0/12")]
    )
    assert check_url("http://10.245.0.1/", discovered, resolver({})) is not None
    assert len(discovered.cluster_ranges) == 4


def test_the_allow_list_overrides_the_denies():
    policy = EgressPolicy.from_strings(
        allow=["prometheus.monitoring.svc", "127.0.0.1:9090", "10.244.0.0/16", "[::1]:8080"],
        cluster_cidrs=["10.244.0.0/16", "10.96.0.0/12"],
    )
    names = resolver({"prometheus.monitoring.svc": ["10.96.4.4"], "other.monitoring.svc": ["10.96.4.5"]})
    assert check_url("http://prometheus.monitoring.svc:9090/", policy, names) is None  # a name: any port
    assert check_url("http://PROMETHEUS.monitoring.svc./", policy, names) is None
    assert check_url("http://other.monitoring.svc:9090/", policy, names) is not None
    assert check_url("http://127.0.0.1:9090/", policy, names) is None  # host:port: that port only
    assert check_url("http://127.0.0.1:9091/", policy, names) is not None
    assert check_url("http://10.244.3.3:8000/", policy, names) is None  # a CIDR
    assert check_url("http://[::1]:8080/", policy, names) is None
    assert check_url("http://[::1]:8081/", policy, names) is not None
    assert check_url("http://169.254.169.254/", policy, names) is not None


def test_only_plain_http_and_https_are_read():
    for url in ("file:///etc/passwd", "ftp://example.com/x", "gopher://127.0.0.1:25/", "//example.com/x", "x"):
        refusal = check_url(url, DEFAULT, resolver({}))
        assert isinstance(refusal, Refusal) and refusal.reason == EGRESS_DENIED, url
    assert check_url("http://example.com:99999/", DEFAULT, resolver({})) is not None


def test_without_a_resolver_only_what_the_url_says_is_judged():
    assert check_url("http://169.254.169.254/", DEFAULT, None) is not None
    assert check_url("ftp://example.com/", DEFAULT, None) is not None
    assert check_url("http://metadata.example/", DEFAULT, None) is None  # the reader resolves and checks it
    assert check_url("http://unknown.example/", DEFAULT, resolver({})) is None  # unreachable, not refused


def test_allow_entries_parse_or_name_themselves():
    assert str(parse_allow_rule(" prometheus.monitoring:9090 ")) == "prometheus.monitoring:9090"
    assert str(parse_allow_rule("[fd00::1]:8080")) == "[fd00::1]:8080"
    assert str(parse_allow_rule("10.0.0.0/8")) == "10.0.0.0/8"
    assert parse_allow_rule("Example.COM").host == "example.com"
    for bad in ("http://x", "host:port", "a b", "host:0", "[::1]:x"):
        with pytest.raises(ValueError, match="egress allow entry"):
            parse_allow_rule(bad)
    with pytest.raises(ValueError, match="not a CIDR"):
        EgressPolicy.from_strings(cluster_cidrs=["10.0.0.0/33"])


def test_the_policy_travels_through_the_environment_unchanged():
    policy = EgressPolicy.from_strings(
        allow=["prometheus.monitoring:9090", "10.244.0.0/16", "[::1]:8080", "example.com"],
        cluster_cidrs=["10.96.0.0/12", "fd00:10:96::/112"],
    )
    env = policy.to_env()
    assert env == {
        ALLOW_ENV: "prometheus.monitoring:9090,10.244.0.0/16,[::1]:8080,example.com",
        CLUSTER_CIDRS_ENV: "10.96.0.0/12,fd00:10:96::/112",
    }
    assert EgressPolicy.from_env(env) == policy
    assert EgressPolicy.from_env({}) == EgressPolicy()


def test_the_charts_own_prometheus_is_allowed_for_prometheus_reads_only():
    settings = Settings.from_env({"BALLAST_PROMETHEUS_URL": "http://127.0.0.1:9090", CLUSTER_CIDRS_ENV: "10.96.0.0/12"})
    assert check_url("http://127.0.0.1:9090/api/v1/query", settings.prometheus_egress, resolver({})) is None
    assert check_url("http://127.0.0.1:9091/", settings.prometheus_egress, resolver({})) is not None
    assert check_url("http://127.0.0.1:9090/data.csv", settings.egress, resolver({})) is not None
    assert settings.egress.cluster_ranges == (ipaddress.ip_network("10.96.0.0/12"),)
