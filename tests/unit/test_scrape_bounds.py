"""Row 10 of issue 12: the operator reads serving pods' /metrics under a size cap and one overall
deadline, and only from pods whose owner chain ends at the version's own Deployment."""

import asyncio
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ballast.canary.pods import ServingPod, controller_uid, pods_of_version
from ballast.canary.scrape import scrape_by_address
from ballast.handlers.serving_pods import owned_pod_addresses
from ballast.reconcile.serving import DeploymentState

METRICS = b"ballast_requests_total 3\n"


class Pod(BaseHTTPRequestHandler):
    """A serving pod whose /metrics behaves as the class says."""

    mode = "ok"
    requests: list[str] = []

    def do_GET(self):
        type(self).requests.append(self.path)
        if self.mode == "huge":  # declares nothing, sends 64 MiB
            self.send_response(200)
            self.end_headers()
            chunk = b"x" * (1 << 20)
            try:
                for _ in range(64):
                    self.wfile.write(chunk)
            except OSError:
                pass
        elif self.mode == "declared-huge":
            self.send_response(200)
            self.send_header("Content-Length", str(400 << 20))
            self.end_headers()
        elif self.mode == "drip":  # one byte every 0.2 s: each read is quick, the whole never ends
            self.send_response(200)
            self.end_headers()
            try:
                for _ in range(200):
                    self.wfile.write(b"#")
                    self.wfile.flush()
                    time.sleep(0.2)
            except OSError:
                pass
        else:
            self.send_response(200)
            self.send_header("Content-Length", str(len(METRICS)))
            self.end_headers()
            self.wfile.write(METRICS)

    def log_message(self, *args):
        pass


@pytest.fixture
def pod():
    def start(mode):
        handler = type(f"Pod_{mode}", (Pod,), {"mode": mode, "requests": []})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"127.0.0.1:{server.server_address[1]}", handler

    servers = []
    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_a_pod_that_answers_is_read(pod):
    address, _ = pod("ok")
    assert scrape_by_address([address], port=None) == {address: METRICS.decode()}


def test_an_answer_bigger_than_the_cap_is_refused_without_reading_it_all(pod):
    address, _ = pod("huge")
    started = time.monotonic()
    assert scrape_by_address([address], port=None, max_bytes=1 << 20) == {}
    assert time.monotonic() - started < 3


def test_a_declared_length_over_the_cap_is_refused_before_the_body(pod):
    address, _ = pod("declared-huge")
    assert scrape_by_address([address], port=None) == {}


def test_a_slow_drip_is_cut_at_the_overall_deadline_and_the_others_still_count(pod):
    slow, _ = pod("drip")
    fine, _ = pod("ok")
    started = time.monotonic()
    assert scrape_by_address([slow, fine], port=None, deadline_seconds=1.0) == {fine: METRICS.decode()}
    assert time.monotonic() - started < 2.0  # not the drip's 40 s, nor a per-read timeout's forever


def test_a_silent_address_costs_at_most_the_deadline():
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # accepts, never answers
    try:
        started = time.monotonic()
        assert scrape_by_address([f"127.0.0.1:{silent.getsockname()[1]}"], port=None, deadline_seconds=0.5) == {}
        assert time.monotonic() - started < 1.5
    finally:
        silent.close()


# the owner chain: pod -> ReplicaSet -> Deployment -> ModelVersion, by uid

OURS = DeploymentState(uid="deploy-1", controller_uid="version-1")


def test_only_pods_of_the_versions_own_deployment_are_accepted():
    pods = [ServingPod("10.0.0.1", "rs-1"), ServingPod("10.0.0.2", "rs-forged"), ServingPod("10.0.0.3", None)]
    replica_sets = {"rs-1": "deploy-1", "rs-forged": "deploy-of-a-tenant"}
    assert pods_of_version(pods, replica_sets, OURS, "version-1") == ["10.0.0.1"]


def test_a_deployment_with_the_right_name_but_another_controller_vouches_for_nothing():
    pods = [ServingPod("10.0.0.1", "rs-1")]
    replica_sets = {"rs-1": "deploy-1"}
    assert (
        pods_of_version(pods, replica_sets, DeploymentState(uid="deploy-1", controller_uid="someone"), "version-1")
        == []
    )
    assert pods_of_version(pods, replica_sets, None, "version-1") == []
    assert pods_of_version(pods, replica_sets, OURS, None) == []


def test_controller_uid_reads_only_a_controller_reference_of_that_kind():
    owners = [
        {"kind": "ReplicaSet", "uid": "a", "controller": False},
        {"kind": "Deployment", "uid": "b", "controller": True},
        {"kind": "ReplicaSet", "uid": "c", "controller": True},
    ]
    assert controller_uid(owners, "ReplicaSet") == "c"
    assert controller_uid(owners[:2], "ReplicaSet") is None


class Index(dict):
    """What kopf hands a handler: key -> a collection of values."""

    def get(self, key, default=None):
        return super().get(key, default if default is not None else [])


def test_a_pod_outside_the_owner_chain_is_never_even_requested(pod):
    ours, our_pod = pod("ok")
    forged, forged_pod = pod("ok")
    serving_pods = Index({("team-a", "iris-v1"): [ServingPod(ours, "rs-1"), ServingPod(forged, "rs-2")]})
    replica_sets = Index({("team-a", "rs-1"): ["deploy-1"], ("team-a", "rs-2"): ["deploy-2"]})
    deployments = Index({("team-a", "iris-v1-serve"): [OURS]})
    addresses = owned_pod_addresses(
        "team-a",
        "iris-v1",
        "version-1",
        serving_pods=serving_pods,
        serving_replica_sets=replica_sets,
        ballast_deployments=deployments,
    )
    assert addresses == [ours]
    assert scrape_by_address(addresses, port=None) == {ours: METRICS.decode()}
    assert forged_pod.requests == [] and our_pod.requests == ["/metrics"]


def test_the_indexes_record_each_link_of_the_chain():
    from ballast.handlers.indexes import ballast_deployments, serving_pods, serving_replica_sets

    ready = {"podIP": "10.0.0.1", "conditions": [{"type": "Ready", "status": "True"}]}
    pod_meta = {"ownerReferences": [{"kind": "ReplicaSet", "uid": "rs-1", "controller": True}]}
    pod_entry = asyncio.run(
        serving_pods(namespace="a", labels={"ballast.dev/model-version": "v1"}, meta=pod_meta, status=ready)
    )
    assert pod_entry == {("a", "v1"): ServingPod("10.0.0.1", "rs-1")}
    rs_meta = {"uid": "rs-1", "ownerReferences": [{"kind": "Deployment", "uid": "d-1", "controller": True}]}
    assert asyncio.run(serving_replica_sets(namespace="a", meta=rs_meta)) == {("a", "rs-1"): "d-1"}
    deploy_meta = {"uid": "d-1", "ownerReferences": [{"kind": "ModelVersion", "uid": "v-1", "controller": True}]}
    deployments = ballast_deployments(namespace="a", name="v1-serve", meta=deploy_meta, status={}, annotations={})
    [state] = asyncio.run(deployments).values()
    assert (state.uid, state.controller_uid) == ("d-1", "v-1")
