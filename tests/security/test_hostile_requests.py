"""Issue 12, row 8: large and slow requests to the victim's model server from an unauthenticated
pod on the pod network. The client is a pod of the Ballast image in the attacker's namespace,
without a token, running model_server_pressure.py (python, standard library only), which
measures; this module asserts on its figures and on the victim's pod, and prints them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ballast.serving.limits import ServingLimits
from tests.security.conftest import Tenants
from tests.security.pod_network import PodNetworkClient
from tests.security.served import Served, served_restarts, serving_pods, victim_pod_address
from tests.support.ballast_objects import condition
from tests.support.image import ballast_image
from tests.support.kube import Kubectl

SCRIPT = Path(__file__).with_name("model_server_pressure.py")
LIMITS = ServingLimits()
PROMPT_SECONDS = 2.0
"""An oversize body's 413: refused by its headers (or its first 4 MiB, chunked), whatever follows."""
HEALTH_SECONDS = 1.0
"""/v2/health/live while large requests are parsed and predicted: the event loop stays free,
though a 4 MiB json.loads holds the interpreter for tens of milliseconds on a busy node."""


@pytest.fixture(scope="module")
def python_client(kubectl: Kubectl, tenants: Tenants) -> Iterator[PodNetworkClient]:
    """Like the suite's pod-network client (no token, restricted), with python."""
    client = PodNetworkClient(
        kubectl, tenants.attacker.namespace, name=f"pyclient-{uuid.uuid4().hex[:6]}", image=ballast_image()
    ).start()
    yield client
    client.stop()


def ready_since(served: Served) -> list[str]:
    """When each of the victim's serving pods last became Ready: unchanged means it stayed Ready."""
    return [
        condition(pod, "Ready").get("lastTransitionTime") for pod in serving_pods(served.victim, served.victim_version)
    ]


def test_row8_large_and_slow_requests_are_refused_or_cut_off_and_the_victims_server_keeps_serving(
    served: Served, python_client: PodNetworkClient
):
    address, restarts, ready = victim_pod_address(served), served_restarts(served), ready_since(served)
    run = python_client.python(SCRIPT.read_text(), address, "iris", timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    figures = json.loads(run.stdout.strip().splitlines()[-1])
    print("row 8 figures:", json.dumps(figures, indent=1))

    declared, chunked = figures["oversize"]["declared"], figures["oversize"]["chunked"]
    assert declared["status"] == 413 and declared["seconds"] < PROMPT_SECONDS, declared
    assert chunked["status"] == 413 and chunked["seconds"] < PROMPT_SECONDS, chunked

    large = figures["large"]
    assert large["body_bytes"] <= LIMITS.max_request_bytes and large["rows"] == LIMITS.max_rows
    assert set(large["statuses"]) == {200}, large
    assert large["health"]["count"] >= 3 and large["health"]["max_seconds"] < HEALTH_SECONDS, large

    assert figures["long_id"]["eight_mib"] == 413, figures["long_id"]
    assert figures["long_id"]["over_limit"] == 400, figures["long_id"]

    stalled = figures["stalled"]
    assert stalled["opened"] > LIMITS.max_connections and stalled["refused_with_503"] > 0, stalled
    held = stalled["held_after_seconds"]  # seconds after the last connection opened
    # one pod gets its share of the cap (max_connections_per_client), the kubelet's probes the rest
    assert held["1"]["idle"] + held["1"]["partial"] < LIMITS.max_connections, held
    assert held["8"]["idle"] == 0, f"idle connections outlived the keep-alive timeout: {held}"
    assert held["13"]["partial"] == 0 and stalled["partial_answers"] == [408], stalled

    assert figures["after"] == 200
    assert victim_pod_address(served) == address and served_restarts(served) == restarts
    assert ready_since(served) == ready, "the victim's pod left Ready"
