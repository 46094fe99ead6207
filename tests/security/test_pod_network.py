"""The suite's own tools on the pod network work, so that a test that finds no request at the
fake metadata server, or an operator not held by the slow server, proves something: a pod
reaches both servers on the pod gateway, the metadata server hands out its canary credentials
to anyone who asks, the slow server outlasts a client that has only a read timeout, and the
unauthenticated client holds no credentials of its own."""

from __future__ import annotations

import json
import time

from tests.security.pod_network import FakeMetadataServer, PodNetworkClient, SlowServer, wait_for_requests

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


def test_the_unauthenticated_client_has_no_credentials(pod_network_client: PodNetworkClient):
    result = pod_network_client.sh(f"ls {SERVICE_ACCOUNT_DIR}; env | grep -ci token || true")
    assert "No such file or directory" in result.stderr, result.stdout
    assert result.stdout.strip().splitlines()[-1] == "0"


def test_a_pod_reaches_the_fake_metadata_server_and_gets_its_canary(
    pod_network_client: PodNetworkClient, metadata_server: FakeMetadataServer
):
    answer = pod_network_client.get(metadata_server.credentials_url)
    assert answer.returncode == 0, answer.stderr
    assert json.loads(answer.stdout)["SecretAccessKey"] == metadata_server.credentials["SecretAccessKey"]
    assert wait_for_requests(metadata_server) == ["/latest/meta-data/iam/security-credentials/ballast-node"]


def test_the_slow_server_holds_a_reader_until_its_overall_deadline(
    pod_network_client: PodNetworkClient, slow_server: SlowServer
):
    """One byte every half second, so a read timeout would never fire: only an overall deadline
    (here `timeout 4`) ends the read, and the server was still dripping when it did."""
    started = time.monotonic()
    result = pod_network_client.sh(f"timeout 4 wget -q -O - {slow_server.url}; echo exit=$?")
    elapsed = time.monotonic() - started
    assert wait_for_requests(slow_server) == ["/"]
    assert result.stdout.strip().endswith("exit=143"), result.stdout[-200:]  # ended by the deadline (SIGTERM)
    assert elapsed >= 4
    assert result.stdout.count("x") >= 4
