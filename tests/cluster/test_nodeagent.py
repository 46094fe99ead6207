"""Fast checks of the node agent's pure parts (no cluster needed); the behaviour against a real
API server is covered by tests/integration/test_local_cluster.py."""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from nodeagent.atomicwriter import write_atomically  # noqa: E402
from nodeagent.iproute import IpCommandError  # noqa: E402
from nodeagent.commands import NoCommandError, container_argv, image_repository  # noqa: E402
from nodeagent.containers import restart_delay, should_restart  # noqa: E402
from nodeagent.downward import field_value, parse_quantity, resource_value  # noqa: E402
from nodeagent.environment import ContainerConfigError, container_environment  # noqa: E402
from nodeagent.expansion import expand  # noqa: E402
from nodeagent.logserver import tail  # noqa: E402
from nodeagent.podips import PodIPAllocator, first_free_address  # noqa: E402
from nodeagent.podnetwork import NETNS_DIR, PodNetwork, PodNetworkLayout, host_conflicts  # noqa: E402
from nodeagent.podstatus import pod_conditions, pod_phase  # noqa: E402
from nodeagent.podworker import PodWorker  # noqa: E402
from nodeagent.sandbox import Mount, Tools, launch_argv  # noqa: E402


@pytest.mark.parametrize("text, expected", [
    ("$(A)", "1"), ("x$(A)y", "x1y"), ("$$(A)", "$(A)"), ("$(UNDEFINED)", "$(UNDEFINED)"),
    ("$(A", "$(A"), ("$", "$"), ("a$b", "a$b"), ("$$$(A)", "$1"),
])
def test_expansion_matches_the_kubelet(text, expected):
    assert expand(text, {"A": "1"}) == expected


def terminated(code: int) -> dict:
    return {"state": {"terminated": {"exitCode": code}}}


@pytest.mark.parametrize("policy, code, phase", [
    ("Never", 0, "Succeeded"), ("Never", 1, "Failed"), ("OnFailure", 0, "Succeeded"),
    ("OnFailure", 1, "Running"), ("Always", 0, "Running"),
])
def test_phase_of_a_pod_whose_container_stopped(policy, code, phase):
    spec = {"restartPolicy": policy, "containers": [{"name": "c"}]}
    assert pod_phase(spec, [], [dict(terminated(code), name="c")]) == phase


def test_phase_waits_for_init_containers_and_fails_on_a_failed_one_when_never_restarting():
    spec = {"restartPolicy": "Never", "initContainers": [{"name": "i"}], "containers": [{"name": "c"}]}
    waiting = [{"name": "c", "state": {"waiting": {"reason": "PodInitializing"}}}]
    assert pod_phase(spec, [{"name": "i", "state": {"running": {}}}], waiting) == "Pending"
    assert pod_phase(spec, [dict(terminated(2), name="i")], waiting) == "Failed"


def test_ready_condition_needs_every_container_and_readiness_gate():
    spec = {"containers": [{"name": "a"}, {"name": "b"}], "readinessGates": [{"conditionType": "example.com/gate"}]}
    statuses = [{"name": "a", "ready": True}, {"name": "b", "ready": True}]
    conditions = {c["type"]: c for c in pod_conditions(spec, "Running", True, [], statuses, [])}
    assert conditions["ContainersReady"]["status"] == "True"
    assert conditions["Ready"]["status"] == "False"
    gate_open = [{"type": "example.com/gate", "status": "True"}]
    conditions = {c["type"]: c for c in pod_conditions(spec, "Running", True, [], statuses, gate_open)}
    assert conditions["Ready"]["status"] == "True"
    assert conditions["example.com/gate"]["status"] == "True", "conditions of others are kept"


@pytest.mark.parametrize("policy, code, restarts", [
    ("Always", 0, True), ("Always", 1, True), ("OnFailure", 0, False), ("OnFailure", 1, True),
    ("Never", 1, False),
])
def test_restart_policy(policy, code, restarts):
    assert should_restart({}, init=False, pod_restart_policy=policy, exit_code=code) is restarts


def test_crash_loop_back_off_doubles_up_to_its_cap():
    delays = [restart_delay(n, 10, 300) for n in range(8)]
    assert delays[0] == 0
    assert all(later == min(2 * earlier, 300) for earlier, later in zip(delays[1:], delays[2:]))
    assert max(delays) == 300


def test_pod_addresses_are_unique_and_skip_network_gateway_and_broadcast_lookalikes():
    network = ipaddress.IPv4Network("127.10.0.0/30")
    assert first_free_address(network, set(), None) == "127.10.0.2"
    assert first_free_address(network, {"127.10.0.2"}, None) is None
    wide = ipaddress.IPv4Network("127.10.0.0/16")
    after = first_free_address(wide, set(), "127.10.0.254")
    assert after == "127.10.1.2"


def test_pod_addresses_survive_an_agent_restart_and_skip_the_gateway(tmp_path):
    network, state = ipaddress.IPv4Network("10.244.0.0/29"), tmp_path / "pod-ips.json"
    first = PodIPAllocator(network, reserved={"10.244.0.1"}, state_file=state)
    a, b = first.assign("a"), first.assign("b")
    assert "10.244.0.1" not in (a, b) and a != b

    restarted = PodIPAllocator(network, reserved={"10.244.0.1"}, state_file=state)
    assert restarted.assign("new") not in (a, b), "a new pod never takes a resumed pod's address"
    assert restarted.assign("b", preferred="10.244.0.6") == b, "the state file wins over status.podIP"
    restarted.retain_only({"b", "new"})  # "a" was deleted while no agent ran
    assert "a" not in json.loads(state.read_text())["pods"]


def test_pod_network_names_fit_the_kernels_limits():
    layout = PodNetworkLayout("ballast0", ipaddress.IPv4Network("10.244.0.0/16"))
    uid = "0d5f8c8e-6a8b-4a43-9f0b-4d6a1a9c1f00"
    assert layout.gateway == "10.244.0.1"
    assert layout.netns_name(uid) == f"ballast0-{uid}" and layout.owns_netns(layout.netns_name(uid))
    other = PodNetworkLayout("ballast0-x", layout.cidr)
    assert not layout.owns_netns(other.netns_name(uid)), "another bridge's namespaces are left alone"
    assert len(layout.host_veth(uid)) <= 15 and layout.host_veth(uid) != layout.host_veth(uid[::-1])
    with pytest.raises(ValueError):
        PodNetworkLayout("a-bridge-name-too-long", layout.cidr)
    with pytest.raises(ValueError):
        PodNetworkLayout("ballast0", ipaddress.IPv4Network("10.244.0.0/31"))


def test_pod_cidr_may_not_overlap_what_the_host_routes():
    cidr = ipaddress.IPv4Network("10.244.0.0/16")
    routes = [{"dst": "default", "dev": "eth0"}, {"dst": "192.0.2.0/24", "dev": "eth0"},
              {"dst": "10.244.0.0/16", "dev": "ballast0"}]
    links = [{"ifname": "ballast0", "addr_info": [{"family": "inet", "local": "10.244.0.1"}]}]
    assert host_conflicts(cidr, routes, links, "ballast0") == [], "the default route and our own bridge are fine"
    assert host_conflicts(cidr, routes + [{"dst": "10.0.0.0/8", "dev": "vpn0"}], links, "ballast0") == [
        "route 10.0.0.0/8 via vpn0"]
    other = [{"ifname": "eth1", "addr_info": [{"family": "inet", "local": "10.244.9.9"}]}]
    assert host_conflicts(cidr, [], other, "ballast0") == ["address 10.244.9.9 on eth1"]


class BrokenNetwork:
    def set_up(self, pod_uid, address):
        raise IpCommandError("`netns add ballast0-u` failed: mount --make-shared /run/netns failed")


class RecordedEvents:
    def __init__(self):
        self.reasons = []

    def pod_event(self, pod, reason, message, **_):
        self.reasons.append(reason)


def test_a_pod_whose_network_cannot_be_set_up_waits_and_says_why(tmp_path):
    network = ipaddress.IPv4Network("10.244.0.0/24")
    config = types.SimpleNamespace(pods_dir=tmp_path / "pods", log_dir=tmp_path / "logs", capacity={},
                                   node_ip="127.0.0.1")
    events = RecordedEvents()
    node = types.SimpleNamespace(config=config, store=None, tokens=None, events=events,
                                 ips=PodIPAllocator(network), network=BrokenNetwork())
    pod = {"metadata": {"name": "p", "namespace": "n", "uid": "u"}, "spec": {"containers": [{"name": "c"}]}}
    worker = PodWorker(pod, node)

    worker._set_up_sandbox()
    worker._set_up_sandbox()  # retried on the next pass: one event, not one per attempt

    [status] = [record.status() for record in worker._main]
    assert status["state"]["waiting"]["reason"] == "ContainerCreating"
    assert status["state"]["waiting"]["message"].startswith("Failed to create pod sandbox: `netns add")
    assert events.reasons == ["FailedCreatePodSandBox"]


def test_downward_api_values():
    pod = {"metadata": {"name": "p", "namespace": "n", "uid": "u", "labels": {"app": "x"}},
           "spec": {"nodeName": "node", "containers": [{"name": "c", "resources": {"limits": {"memory": "1Gi"}}}]},
           "status": {"podIP": "127.10.0.9"}}
    assert field_value(pod, "metadata.labels['app']") == "x"
    assert field_value(pod, "status.podIP") == "127.10.0.9"
    assert resource_value(pod, "c", "limits.memory", "1Mi", {}) == "1024"
    assert resource_value(pod, "c", "limits.cpu", "1m", {"cpu": "4"}) == "4000", "no limit: node allocatable"
    assert parse_quantity("1500m") == parse_quantity("1.5")


class FakeLookups:
    def __init__(self, config_maps=None, secrets=None):
        self.config_maps, self.secrets = config_maps or {}, secrets or {}

    def config_map_data(self, namespace, name):
        return self.config_maps.get(name)

    def secret_data(self, namespace, name):
        return self.secrets.get(name)


def test_environment_order_and_expansion():
    pod = {"metadata": {"name": "p", "namespace": "n"}, "spec": {}, "status": {}}
    container = {"name": "c", "envFrom": [{"configMapRef": {"name": "cm"}, "prefix": "CM_"}],
                 "env": [{"name": "A", "value": "$(CM_X)-$(BASE)"},
                         {"name": "S", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
                         {"name": "O", "valueFrom": {"secretKeyRef": {"name": "gone", "key": "k", "optional": True}}}]}
    lookups = FakeLookups({"cm": {"X": b"x", "not valid": b"dropped"}}, {"s": {"k": b"secret"}})
    env = container_environment(pod, container, {"BASE": "b"}, lookups, {})
    assert env["A"] == "x-b"
    assert env["S"] == "secret"
    assert "O" not in env and "CM_not valid" not in env
    with pytest.raises(ContainerConfigError):
        container_environment(pod, {"name": "c", "envFrom": [{"secretRef": {"name": "absent"}}]}, {}, lookups, {})


def test_command_comes_from_the_spec_or_the_image_map():
    entrypoints = {"example/app": {"command": ["app"], "args": ["--serve"]}}
    assert container_argv({"name": "c", "image": "example/app:1.0"}, {}, entrypoints) == ["app", "--serve"]
    with_args = {"name": "c", "image": "example/app", "args": ["$(X)"]}
    assert container_argv(with_args, {"X": "1"}, entrypoints) == ["app", "1"], "args replace the image's CMD"
    assert image_repository("registry:5000/team/app:1.2@sha256:ab") == "registry:5000/team/app"
    with pytest.raises(NoCommandError):
        container_argv({"name": "c", "image": "nginx"}, {}, entrypoints)


def test_atomic_writer_replaces_content_and_drops_removed_keys(tmp_path):
    assert write_atomically(tmp_path, {"a": (b"1", 0o644), "b": (b"2", 0o600)})
    assert not write_atomically(tmp_path, {"a": (b"1", 0o644), "b": (b"2", 0o600)}), "unchanged: no rewrite"
    assert write_atomically(tmp_path, {"a": (b"3", 0o644)})
    assert (tmp_path / "a").read_text() == "3"
    assert not (tmp_path / "b").exists()
    assert len([p for p in tmp_path.iterdir() if p.name.startswith("..20")]) == 1, "old versions are removed"


def test_log_tail():
    assert tail(b"1\n2\n3\n", 2, None) == b"2\n3\n"
    assert tail(b"1\n2\n3\n", None, 3) == b"1\n2"


@pytest.mark.skipif(os.geteuid() != 0, reason="mount namespaces need root")
def test_sandbox_binds_volumes_sets_hostname_and_working_directory(tmp_path):
    volume = tmp_path / "volume"
    volume.mkdir()
    (volume / "file").write_text("inside")
    target = f"/tmp/ballast-sandbox-test-{os.getpid()}"
    script = "hostname; pwd; cat file; echo; touch x 2>/dev/null || echo read-only"
    argv = launch_argv(Tools.find(), ["sh", "-c", script],
                       mounts=[Mount(volume, target, read_only=True)], hostname="sandboxed",
                       working_dir=target, run_as=None, cgroup_procs=None)
    try:
        output = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=True).stdout.split("\n")
    finally:
        os.rmdir(target)
    assert output[:4] == ["sandboxed", target, "inside", "read-only"]


@pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")
def test_container_runs_in_its_pods_network_namespace_which_tear_down_removes(tmp_path):
    # a bridge and range of its own, so a running local cluster is not disturbed
    layout = PodNetworkLayout(f"bltest{os.getpid() % 100000}", ipaddress.IPv4Network("10.251.0.0/24"))
    network = PodNetwork(layout, lock_dir=tmp_path)
    pod_a, pod_b = "00000000-0000-4000-8000-00000000000a", "00000000-0000-4000-8000-00000000000b"
    network.acquire()
    try:
        network.ensure_bridge()
        netns = network.set_up(pod_a, "10.251.0.2")
        argv = launch_argv(Tools.find(), ["readlink", "/proc/self/ns/net"], mounts=[], hostname=pod_a,
                           working_dir=None, run_as=None, cgroup_procs=None, netns=netns)
        output = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        assert output == f"net:[{os.stat(netns).st_ino}]"
        assert output != os.readlink("/proc/self/ns/net")
        routes = subprocess.run(["ip", "-n", layout.netns_name(pod_a), "route"], capture_output=True, text=True,
                                check=True).stdout
        assert f"default via {layout.gateway} dev eth0" in routes

        network.tear_down(pod_a)
        assert not (NETNS_DIR / layout.netns_name(pod_a)).exists()
        assert not Path("/sys/class/net", layout.host_veth(pod_a)).exists()
        network.set_up(pod_b, "10.251.0.3")  # left for the sweep below
    finally:
        network.remove_bridge()
        network.release()
    assert network.netns_names() == []
    assert not Path("/sys/class/net", layout.bridge).exists()
    assert not Path("/sys/class/net", layout.host_veth(pod_b)).exists()
