"""The local cluster's real node (tests/cluster/node.py): a kubelet on containerd and runc,
doing what Ballast's pods rely on a kubelet for, with the toolbox image (busybox, uid 65532)."""

from __future__ import annotations

import ipaddress
import json
import sys
import urllib.request
import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import make_namespace
from tests.support.kube import REPO, Kubectl, shared_store_dir, wait_for

sys.path.insert(0, str(REPO / "tests" / "cluster"))
import localcluster  # noqa: E402

NONROOT = 65532
POD_TIMEOUT = 120


def container_security() -> dict:
    return {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "readOnlyRootFilesystem": True}


def pod(name: str, script: str, *, labels: dict | None = None, restart: str = "Never", **container) -> dict:
    """A pod the "restricted" Pod Security Standard admits, running `sh -c script`; `pod_spec`
    adds to the pod's spec, everything else to its container."""
    pod_spec = container.pop("pod_spec", {})
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {
            "restartPolicy": restart,
            "terminationGracePeriodSeconds": 1,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": NONROOT,
                "runAsGroup": NONROOT,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "main",
                    "image": localcluster.toolbox_image(),
                    "command": ["sh", "-c", script],
                    "securityContext": container_security(),
                    **container,
                }
            ],
            **pod_spec,
        },
    }


def get_pod(kubectl: Kubectl, name: str) -> dict:
    return kubectl.get_json("pod", name)


def container_status(kubectl: Kubectl, name: str) -> dict:
    statuses = get_pod(kubectl, name).get("status", {}).get("containerStatuses") or [{}]
    return statuses[0]


def terminated(kubectl: Kubectl, name: str) -> dict:
    """The container's final state, once it has one."""

    def final() -> dict | None:
        status = container_status(kubectl, name)
        return (status.get("state") or {}).get("terminated") or (status.get("lastState") or {}).get("terminated")

    return wait_for(final, timeout=POD_TIMEOUT, message=f"pod {name} to terminate")


def wait_ready(kubectl: Kubectl, name: str) -> dict:
    def ready() -> dict | None:
        found = get_pod(kubectl, name)
        conditions = {c["type"]: c["status"] for c in found.get("status", {}).get("conditions", [])}
        return found if conditions.get("Ready") == "True" else None

    return wait_for(ready, timeout=POD_TIMEOUT, message=f"pod {name} to be Ready")


@pytest.fixture
def ns(kubectl: Kubectl, namespace: str) -> Kubectl:
    return kubectl.in_namespace(namespace)


@pytest.fixture
def other_namespace(kubectl: Kubectl) -> Iterator[str]:
    yield from make_namespace(kubectl)


def test_node_is_a_kubelet_on_containerd(kubectl: Kubectl) -> None:
    node = kubectl.get_json("node", localcluster.NODE_NAME)
    info = node["status"]["nodeInfo"]
    assert info["kubeletVersion"] == localcluster.kube_version()
    assert info["containerRuntimeVersion"].startswith("containerd://")
    conditions = {c["type"]: c["status"] for c in node["status"]["conditions"]}
    assert conditions["Ready"] == "True"
    assert not node["spec"].get("taints")
    assert not node["spec"].get("unschedulable")


def test_pod_runs_as_nonroot_on_a_read_only_root(ns: Kubectl) -> None:
    ns.apply(pod("nonroot", "sleep 3600"))
    wait_ready(ns, "nonroot")
    assert ns.run("exec", "nonroot", "--", "id", "-u").stdout.strip() == str(NONROOT)
    write = ns.run("exec", "nonroot", "--", "touch", "/written", check=False)
    assert write.returncode != 0
    assert "Read-only file system" in write.stderr


def test_memory_limit_oom_kills(ns: Kubectl) -> None:
    # the shell holds a command substitution's whole output: 256 MB against a 32 Mi limit
    limits = {"memory": "32Mi", "cpu": "100m"}
    ns.apply(
        pod(
            "hog",
            'x=$(head -c 268435456 /dev/zero | tr "\\0" a); echo survived',
            resources={"limits": limits, "requests": limits},
        )
    )
    assert terminated(ns, "hog")["reason"] == "OOMKilled"


def test_logs_and_termination_message(ns: Kubectl) -> None:
    ns.apply(pod("talker", "echo hello from the pod; echo goodbye > /dev/termination-log; exit 3"))
    final = terminated(ns, "talker")
    assert final["exitCode"] == 3
    assert final["message"].strip() == "goodbye"
    assert ns.run("logs", "talker").stdout == "hello from the pod\n"


def test_the_metrics_api_reports_a_busy_pods_cpu_from_the_kubelet(ns: Kubectl) -> None:
    """metrics-server (tests/cluster/metricsserver.py), through the API server's aggregation
    layer: what HorizontalPodAutoscalers and `kubectl top` read."""
    ns.apply(pod("spinner", "while :; do :; done", restart="Always"))
    wait_for(lambda: get_pod(ns, "spinner")["status"].get("phase") == "Running", timeout=60, message="spinner runs")

    def cpu_millicores() -> int | None:
        found = ns.run(
            "get", "--raw", f"/apis/metrics.k8s.io/v1beta1/namespaces/{ns.namespace}/pods/spinner", check=False
        )
        if found.returncode != 0:
            return None  # not scraped yet: metrics-server scrapes every 15 s
        (container,) = json.loads(found.stdout)["containers"]
        cpu = container["usage"]["cpu"]  # nanocores ("123456789n") or millicores ("250m")
        millicores = int(cpu[:-1]) // 1_000_000 if cpu.endswith("n") else int(cpu.removesuffix("m"))
        return millicores or None

    # a shell spinning on a shared 2-core machine gets a good part of a core
    assert wait_for(cpu_millicores, timeout=90, interval=3, message="the spinner's CPU in the metrics API") >= 100
    assert "spinner" in ns.run("top", "pod", "spinner").stdout


def test_readiness_decides_the_service_endpoints(ns: Kubectl) -> None:
    """The host reaches pods over the bridge: the kubelet's HTTP probes, and this test."""
    serve = "mkdir -p /tmp/www && echo served > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www"
    for name, probe_port in (("ready", 8080), ("unready", 8081)):
        ns.apply(
            pod(
                name,
                serve,
                labels={"app": "probed"},
                restart="Always",
                readinessProbe={"httpGet": {"path": "/", "port": probe_port}, "periodSeconds": 1},
                volumeMounts=[{"name": "tmp", "mountPath": "/tmp"}],
                pod_spec={"volumes": [{"name": "tmp", "emptyDir": {}}]},
            )
        )
    ns.apply(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "probed"},
            "spec": {"selector": {"app": "probed"}, "ports": [{"port": 80, "targetPort": 8080}]},
        }
    )
    ready_ip = wait_ready(ns, "ready")["status"]["podIP"]
    unready_ip = wait_for(
        lambda: get_pod(ns, "unready")["status"].get("podIP"), timeout=POD_TIMEOUT, message="the unready pod's IP"
    )

    def endpoints() -> dict | None:
        slices = ns.get_json("endpointslices", "-l", "kubernetes.io/service-name=probed")["items"]
        found = {
            address: endpoint["conditions"].get("ready")
            for item in slices
            for endpoint in item.get("endpoints") or []
            for address in endpoint["addresses"]
        }
        return found if len(found) == 2 else None

    assert wait_for(endpoints, timeout=60, message="both pods in the EndpointSlice") == {
        ready_ip: True,
        unready_ip: False,
    }
    with urllib.request.urlopen(f"http://{ready_ip}:8080/", timeout=5) as response:
        assert response.read() == b"served\n"


def test_pods_reach_the_api_server_through_the_service_env(ns: Kubectl) -> None:
    gateway = localcluster.pod_gateway()
    script = (
        'echo "$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT"; '
        'wget -q -O- --no-check-certificate "https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT/version"'
        f' && wget -q -O /dev/null --no-check-certificate "https://{gateway}:$KUBERNETES_SERVICE_PORT/version"'
    )
    ns.apply(pod("client", script))
    final = terminated(ns, "client")
    output = ns.run("logs", "client").stdout
    assert final["exitCode"] == 0, output
    address, _, body = output.partition("\n")
    assert address == f"{localcluster.api_service_ip()}:443"
    assert json.loads(body)["gitVersion"] == localcluster.kube_version()


def test_shared_volumes_are_one_directory_across_namespaces(
    kubectl: Kubectl, namespace: str, other_namespace: str
) -> None:
    marker = f"shared-{uuid.uuid4().hex[:8]}"
    mount = {
        "volumeMounts": [{"name": "store", "mountPath": "/store"}],
        "pod_spec": {"volumes": [{"name": "store", "persistentVolumeClaim": {"claimName": "store"}}]},
    }
    scripts = {
        namespace: f"echo first > /store/{marker}",
        # reads the other pod's file, then rewrites it and adds one of its own
        other_namespace: f"cat /store/{marker} && echo second >> /store/{marker} && touch /store/{marker}.b",
    }
    for name, script in scripts.items():
        client = kubectl.in_namespace(name)
        client.apply(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": "store"},
                "spec": {
                    "storageClassName": "ballast-shared",
                    "accessModes": ["ReadWriteMany"],
                    "resources": {"requests": {"storage": "1Gi"}},
                },
            }
        )
        client.apply(pod("writer", script, **mount))
        assert terminated(client, "writer")["exitCode"] == 0, client.run("logs", "writer").stdout
    assert kubectl.in_namespace(other_namespace).run("logs", "writer").stdout == "first\n"
    written = shared_store_dir() / marker
    assert written.read_text() == "first\nsecond\n"
    assert written.stat().st_uid == NONROOT
    assert (shared_store_dir() / f"{marker}.b").stat().st_uid == NONROOT


def test_the_service_range_holds_thousands_of_services(ns: Kubectl) -> None:
    """kube-apiserver's default range (254 addresses) was filled by a single test session."""
    service_range = ipaddress.ip_network(localcluster.SERVICE_CIDR)
    assert service_range.num_addresses >= 10_000
    assert not service_range.overlaps(localcluster.pod_cidr())
    ns.apply(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "ranged"},
            "spec": {"selector": {"app": "x"}, "ports": [{"port": 80, "targetPort": 8080}]},
        }
    )
    assert ipaddress.ip_address(ns.get_json("service", "ranged")["spec"]["clusterIP"]) in service_range
