"""The local cluster behaves like a real one: pods scheduled to the node agent's node really run,
and the real controllers (Job, Deployment/ReplicaSet, garbage collector, EndpointSlice, PV
binder) act on what the agent reports. Every assertion is read back from the API server, or
observed from the pods' own processes and addresses.

Pods have network namespaces of their own on the node agent's bridge, so the tests (host
processes) reach them at their status.podIP, as a node of a real cluster would."""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from kubernetes import client, config

from tests.support.kube import REPO, wait_for
from tests.conftest import make_namespace

sys.path.insert(0, str(REPO / "tests" / "cluster"))
import localcluster  # noqa: E402
from nodeagent.podnetwork import NETNS_DIR, PodNetworkLayout  # noqa: E402

pytestmark = pytest.mark.cluster

PYTHON = "python3"  # the agent puts its own interpreter's bin directory first on pods' PATH
POD_IP_ENV = {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}
POD_NAME_ENV = {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}

# Answers every GET with the serving pod's name, on BIND_ADDRESS (default: the pod's own address).
NAME_SERVER = """
import http.server, os, sys
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = os.environ["POD_NAME"].encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
address = os.environ.get("BIND_ADDRESS", os.environ["POD_IP"])
http.server.HTTPServer((address, int(sys.argv[1])), Handler).serve_forever()
"""


# --- helpers -----------------------------------------------------------------------------------


def python_container(name: str, code: str, *args: str, **extra) -> dict:
    return {"name": name, "image": "python:3.11-slim", "command": [PYTHON, "-c", code], "args": list(args), **extra}



@pytest.fixture
def namespace(kubectl):
    """Without Pod Security enforcement: these tests exercise the node agent, not Ballast's pods."""
    yield from make_namespace(kubectl, restricted=False)


def read_pod(core: client.CoreV1Api, namespace: str, name: str) -> dict:
    return core.api_client.sanitize_for_serialization(core.read_namespaced_pod(name, namespace))


def wait_for_phase(core: client.CoreV1Api, namespace: str, name: str, phases: set[str], timeout: float = 60) -> dict:
    return wait_for(lambda: (pod := read_pod(core, namespace, name))["status"].get("phase") in phases and pod,
                    timeout=timeout, message=f"pod {namespace}/{name} to reach {sorted(phases)}")


def condition(obj: dict, kind: str) -> dict | None:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == kind), None)


def is_ready(pod: dict) -> bool:
    ready = condition(pod, "Ready")
    return bool(ready and ready["status"] == "True")


def pods_with_labels(core: client.CoreV1Api, namespace: str, labels: dict[str, str]) -> list[dict]:
    selector = ",".join(f"{k}={v}" for k, v in labels.items())
    listing = core.list_namespaced_pod(namespace, label_selector=selector)
    return core.api_client.sanitize_for_serialization(listing)["items"]


def http_get(ip: str, port: int, timeout: float = 3) -> str:
    with urllib.request.urlopen(f"http://{ip}:{port}/", timeout=timeout) as response:
        return response.read().decode()


def nothing_answers(ip: str, port: int) -> bool:
    """A deleted pod's address is on no interface any more: connecting times out or finds no
    host, as in a real cluster (refused, too, if another pod took the address meanwhile)."""
    try:
        http_get(ip, port, timeout=1)
    except (OSError, urllib.error.URLError):  # TimeoutError and ConnectionError are OSErrors
        return True
    return False


def processes_with_argument(marker: str) -> list[int]:
    """Host processes whose command line contains `marker` (the pods' processes are host processes)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def endpoint_slices(api: client.ApiClient, namespace: str, service: str) -> list[dict]:
    discovery = client.DiscoveryV1Api(api)
    listing = discovery.list_namespaced_endpoint_slice(namespace,
                                                       label_selector=f"kubernetes.io/service-name={service}")
    return api.sanitize_for_serialization(listing)["items"]


def pod_network() -> PodNetworkLayout:
    """The agent's bridge and CIDR as localcluster.py configures them."""
    return PodNetworkLayout(localcluster.pod_bridge(), localcluster.pod_cidr())


def network_namespace_of(pid: int) -> tuple[int, int]:
    stat = os.stat(f"/proc/{pid}/ns/net")
    return stat.st_dev, stat.st_ino


def pinned_namespace(path: Path) -> tuple[int, int]:
    stat = os.stat(path)  # `ip netns add` bind-mounts the namespace's nsfs inode here
    return stat.st_dev, stat.st_ino


def name_server_deployment(name: str, labels: dict[str, str], port: int, marker: str, replicas: int = 1) -> dict:
    container = python_container("server", NAME_SERVER, str(port), marker, env=[POD_IP_ENV, POD_NAME_ENV],
                                 ports=[{"name": "http", "containerPort": port}],
                                 readinessProbe={"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1})
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [container], "terminationGracePeriodSeconds": 5}}},
    }


def service(name: str, labels: dict[str, str], port: int) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": labels, "ports": [{"name": "http", "port": 80, "targetPort": port}]}}


# --- tests -----------------------------------------------------------------------------------


def test_pod_runs_to_completion_with_its_termination_message(api, namespace):
    core = client.CoreV1Api(api)
    greeting = f"finished {secrets.token_hex(4)}"
    code = "import sys; open('/dev/termination-log', 'w').write(sys.argv[1])"
    core.create_namespaced_pod(namespace, {
        "metadata": {"name": "once"},
        "spec": {"restartPolicy": "Never", "containers": [python_container("main", code, greeting)]},
    })

    pod = wait_for_phase(core, namespace, "once", {"Succeeded", "Failed"})

    assert pod["status"]["phase"] == "Succeeded"
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 0
    assert terminated["reason"] == "Completed"
    assert terminated["message"] == greeting


def test_job_completes_through_the_job_controller(api, namespace):
    batch = client.BatchV1Api(api)
    batch.create_namespaced_job(namespace, {
        "metadata": {"name": "works"},
        "spec": {"backoffLimit": 0, "template": {"spec": {
            "restartPolicy": "Never", "containers": [python_container("main", "print('ok')")]}}},
    })

    def complete():
        job = api.sanitize_for_serialization(batch.read_namespaced_job("works", namespace))
        return (condition(job, "Complete") or {}).get("status") == "True" and job

    job = wait_for(complete, timeout=60, message="Job works to complete")
    assert job["status"]["succeeded"] == 1
    assert not job["status"].get("failed")


def test_failing_job_fails_after_its_backoff_limit(api, namespace):
    batch = client.BatchV1Api(api)
    exit_code = 3
    batch.create_namespaced_job(namespace, {
        "metadata": {"name": "breaks"},
        "spec": {"backoffLimit": 1, "template": {"spec": {
            "restartPolicy": "Never",
            "containers": [python_container("main", "import sys; sys.exit(int(sys.argv[1]))", str(exit_code))]}}},
    })

    def failed():
        job = api.sanitize_for_serialization(batch.read_namespaced_job("breaks", namespace))
        return (condition(job, "Failed") or {}).get("status") == "True" and job

    # the Job controller waits 10s before replacing the first failed pod
    job = wait_for(failed, timeout=90, message="Job breaks to fail")
    assert condition(job, "Failed")["reason"] == "BackoffLimitExceeded"
    assert job["status"]["failed"] == 2  # the first try and its one retry
    core = client.CoreV1Api(api)
    pods = pods_with_labels(core, namespace, {"job-name": "breaks"})
    assert len(pods) == 2
    for pod in pods:
        assert pod["status"]["phase"] == "Failed"
        assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == exit_code


def test_deployment_pod_serves_on_its_own_address_and_joins_the_service(api, namespace):
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    labels, port, marker = {"app": "names"}, 8080, f"marker-{secrets.token_hex(6)}"
    apps.create_namespaced_deployment(namespace, name_server_deployment("names", labels, port, marker))
    core.create_namespaced_service(namespace, service("names", labels, port))

    pods = wait_for(lambda: [p for p in pods_with_labels(core, namespace, labels) if is_ready(p)],
                    timeout=60, message="a Ready pod of Deployment names")
    pod = pods[0]
    pod_ip = pod["status"]["podIP"]

    assert ipaddress.ip_address(pod_ip) in pod_network().cidr and pod_ip != pod_network().gateway
    assert http_get(pod_ip, port) == pod["metadata"]["name"]

    def slice_publishing_the_pod():
        return next((s for s in endpoint_slices(api, namespace, "names") for e in s.get("endpoints") or []
                     if pod_ip in e["addresses"] and e["conditions"].get("ready")), None)

    published = wait_for(slice_publishing_the_pod, timeout=30, message=f"{pod_ip} as a ready endpoint of Service names")
    [endpoint_port] = [p["port"] for p in published["ports"] if p["name"] == "http"]
    assert http_get(pod_ip, endpoint_port) == pod["metadata"]["name"], "the published endpoint answers"


def test_the_service_range_holds_thousands_of_services(api, namespace):
    # kube-apiserver's default range (254 addresses) was filled by a single test session
    [cidr] = [c for c in client.NetworkingV1Api(api).list_service_cidr().items if c.metadata.name == "kubernetes"]
    assert [str(ipaddress.ip_network(block)) for block in cidr.spec.cidrs] == [localcluster.SERVICE_CIDR]
    assert ipaddress.ip_network(localcluster.SERVICE_CIDR).num_addresses >= 10_000
    assert not ipaddress.ip_network(localcluster.SERVICE_CIDR).overlaps(pod_network().cidr)

    created = client.CoreV1Api(api).create_namespaced_service(namespace, service("ranged", {"app": "x"}, 8080))
    assert ipaddress.ip_address(created.spec.cluster_ip) in ipaddress.ip_network(localcluster.SERVICE_CIDR)


def test_deleting_a_deployment_collects_its_replicaset_pods_and_processes(api, namespace):
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    labels, port, marker = {"app": "doomed"}, 8081, f"marker-{secrets.token_hex(6)}"
    apps.create_namespaced_deployment(namespace, name_server_deployment("doomed", labels, port, marker, replicas=2))
    pods = wait_for(lambda: len(ready := [p for p in pods_with_labels(core, namespace, labels) if is_ready(p)]) == 2
                    and ready, timeout=60, message="two Ready pods of Deployment doomed")
    addresses = [p["status"]["podIP"] for p in pods]
    assert len(set(addresses)) == 2, "each pod has an address of its own"
    assert len(processes_with_argument(marker)) == 2

    apps.delete_namespaced_deployment("doomed", namespace, propagation_policy="Background")

    wait_for(lambda: not apps.list_namespaced_replica_set(namespace, label_selector="app=doomed").items,
             timeout=60, message="the garbage collector to delete the ReplicaSet")
    wait_for(lambda: not pods_with_labels(core, namespace, labels), timeout=60,
             message="the garbage collector to delete the pods")
    assert processes_with_argument(marker) == []
    for address in addresses:
        assert nothing_answers(address, port)


def test_pod_uses_its_service_account_token_with_rbac(api, namespace):
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    config_map = f"visible-{secrets.token_hex(4)}"
    core.create_namespaced_config_map(namespace, {"metadata": {"name": config_map}, "data": {"k": "v"}})
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "reader"}})
    rbac.create_namespaced_role(namespace, {
        "metadata": {"name": "configmap-reader"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}]})
    rbac.create_namespaced_role_binding(namespace, {
        "metadata": {"name": "reader-reads-configmaps"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "configmap-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": namespace}]})
    # In-cluster configuration: KUBERNETES_SERVICE_HOST/PORT plus the projected token, CA and namespace.
    code = """
import json
from kubernetes import client, config
config.load_incluster_config()
core = client.CoreV1Api()
namespace = open("/var/run/secrets/kubernetes.io/serviceaccount/namespace").read()
names = [c.metadata.name for c in core.list_namespaced_config_map(namespace).items]
try:
    core.list_namespaced_secret(namespace)
    secrets_status = 200
except client.ApiException as error:
    secrets_status = error.status
open("/dev/termination-log", "w").write(json.dumps({"configmaps": names, "secrets": secrets_status,
                                                    "host": client.Configuration.get_default_copy().host}))
"""
    core.create_namespaced_pod(namespace, {
        "metadata": {"name": "reader"},
        "spec": {"serviceAccountName": "reader", "restartPolicy": "Never",
                 "containers": [python_container("main", code, terminationMessagePolicy="FallbackToLogsOnError")]},
    })

    pod = wait_for_phase(core, namespace, "reader", {"Succeeded", "Failed"})

    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert pod["status"]["phase"] == "Succeeded", terminated.get("message")
    report = json.loads(terminated["message"])
    assert config_map in report["configmaps"]
    assert report["secrets"] == 403, "RBAC must refuse what the Role does not grant"
    # the pod's own 127.0.0.1 is its loopback; the host (and the API server) is its gateway
    assert report["host"].startswith(f"https://{pod_network().gateway}:")


def test_claim_binds_and_carries_a_file_from_one_pod_to_the_next(api, namespace):
    core = client.CoreV1Api(api)
    core.create_namespaced_persistent_volume_claim(namespace, {
        "metadata": {"name": "shared"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})
    wait_for(lambda: core.read_namespaced_persistent_volume_claim("shared", namespace).status.phase == "Bound",
             timeout=60, message="PVC shared to bind")

    content = secrets.token_hex(8)
    volume = {"name": "data", "persistentVolumeClaim": {"claimName": "shared"}}
    mount = [{"name": "data", "mountPath": "/data"}]
    write = "import sys; open('/data/note.txt', 'w').write(sys.argv[1])"
    read = "open('/dev/termination-log', 'w').write(open('/data/note.txt').read())"
    for name, code, args in (("writer", write, [content]), ("reader", read, [])):
        core.create_namespaced_pod(namespace, {
            "metadata": {"name": name},
            "spec": {"restartPolicy": "Never", "volumes": [volume],
                     "containers": [python_container("main", code, *args, volumeMounts=mount)]}})
        pod = wait_for_phase(core, namespace, name, {"Succeeded", "Failed"})
        assert pod["status"]["phase"] == "Succeeded", pod["status"]["containerStatuses"]

    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["message"] == content


def test_failing_readiness_probe_keeps_a_pod_unready_and_out_of_ready_endpoints(api, namespace):
    core = client.CoreV1Api(api)
    labels, port = {"app": "never-ready"}, 8082
    probe = {"exec": {"command": ["false"]}, "periodSeconds": 1, "failureThreshold": 1}
    core.create_namespaced_pod(namespace, {
        "metadata": {"name": "never-ready", "labels": labels},
        "spec": {"containers": [python_container("server", NAME_SERVER, str(port), env=[POD_IP_ENV, POD_NAME_ENV],
                                                 readinessProbe=probe)],
                 "terminationGracePeriodSeconds": 2}})
    core.create_namespaced_service(namespace, service("never-ready", labels, port))

    pod = wait_for(lambda: (p := read_pod(core, namespace, "never-ready"))["status"].get("phase") == "Running"
                   and http_get(p["status"]["podIP"], port) and p,
                   timeout=60, message="pod never-ready to run and serve")
    observed_for = 5.0  # several probe periods
    deadline = time.monotonic() + observed_for
    while time.monotonic() < deadline:
        pod = read_pod(core, namespace, "never-ready")
        assert not is_ready(pod)
        assert pod["status"]["containerStatuses"][0]["ready"] is False
        assert pod["status"]["containerStatuses"][0]["restartCount"] == 0, "readiness failures must not restart"
        ready_endpoints = [e for s in endpoint_slices(api, namespace, "never-ready")
                           for e in s.get("endpoints") or [] if e["conditions"].get("ready")]
        assert ready_endpoints == []
        time.sleep(0.5)

    pod_ip = pod["status"]["podIP"]
    wait_for(lambda: [e for s in endpoint_slices(api, namespace, "never-ready") for e in s.get("endpoints") or []
                      if pod_ip in e["addresses"] and e["conditions"].get("ready") is False],
             timeout=30, message=f"{pod_ip} listed as a not-ready endpoint")



def test_init_containers_run_in_order_and_the_main_container_gets_config_and_secrets(api, namespace):
    core = client.CoreV1Api(api)
    setting, password = secrets.token_hex(4), secrets.token_hex(4)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "settings"}, "data": {"setting": setting}})
    core.create_namespaced_secret(namespace, {"metadata": {"name": "credentials"},
                                              "stringData": {"password": password}})
    append = "import sys; open('/scratch/order', 'a').write(sys.argv[1] + ' ')"
    report = """
import json, os
open("/dev/termination-log", "w").write(json.dumps({
    "order": open("order").read().split(), "cwd": os.getcwd(),
    "setting_env": os.environ["SETTING_setting"], "password_env": os.environ["PASSWORD"],
    "setting_file": open("/mnt/settings/setting").read(),
    "password_file": open("/mnt/credentials/password").read()}))
"""
    scratch = [{"name": "scratch", "mountPath": "/scratch"}]
    core.create_namespaced_pod(namespace, {
        "metadata": {"name": "ordered"},
        "spec": {
            "restartPolicy": "Never",
            "volumes": [{"name": "scratch", "emptyDir": {}},
                        {"name": "settings", "configMap": {"name": "settings"}},
                        {"name": "credentials", "secret": {"secretName": "credentials"}}],
            "initContainers": [python_container(name, append, name, volumeMounts=scratch)
                               for name in ("first", "second")],
            "containers": [python_container(
                "main", report, workingDir="/scratch",
                env=[{"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "credentials", "key": "password"}}}],
                envFrom=[{"configMapRef": {"name": "settings"}, "prefix": "SETTING_"}],
                volumeMounts=scratch + [{"name": "settings", "mountPath": "/mnt/settings", "readOnly": True},
                                        {"name": "credentials", "mountPath": "/mnt/credentials"}],
                terminationMessagePolicy="FallbackToLogsOnError")],
        },
    })

    pod = wait_for_phase(core, namespace, "ordered", {"Succeeded", "Failed"})

    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert pod["status"]["phase"] == "Succeeded", terminated.get("message")
    assert json.loads(terminated["message"]) == {
        "order": ["first", "second"], "cwd": "/scratch", "setting_env": setting, "password_env": password,
        "setting_file": setting, "password_file": password}
    init = [s["state"]["terminated"] for s in pod["status"]["initContainerStatuses"]]
    assert [s["exitCode"] for s in init] == [0, 0]


def test_failed_container_reports_its_log_tail_when_asked_to(api, namespace):
    core = client.CoreV1Api(api)
    last_words = f"giving up {secrets.token_hex(4)}"
    code = "import sys; print(sys.argv[1], flush=True); sys.exit(7)"
    core.create_namespaced_pod(namespace, {
        "metadata": {"name": "fails"},
        "spec": {"restartPolicy": "Never", "containers": [
            python_container("main", code, last_words, terminationMessagePolicy="FallbackToLogsOnError")]}})

    pod = wait_for_phase(core, namespace, "fails", {"Succeeded", "Failed"})

    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert pod["status"]["phase"] == "Failed"
    assert (terminated["exitCode"], terminated["reason"]) == (7, "Error")
    assert terminated["message"].strip() == last_words


def test_failing_liveness_probe_restarts_the_container(api, namespace):
    core = client.CoreV1Api(api)
    probe = {"exec": {"command": ["false"]}, "periodSeconds": 1, "failureThreshold": 2}
    core.create_namespaced_pod(namespace, {
        "metadata": {"name": "unhealthy"},
        "spec": {"terminationGracePeriodSeconds": 1, "containers": [
            python_container("main", "import time; time.sleep(3600)", livenessProbe=probe)]}})

    def restarted():
        status = read_pod(core, namespace, "unhealthy")["status"].get("containerStatuses") or [{}]
        return status[0].get("restartCount", 0) >= 1 and status[0]

    status = wait_for(restarted, timeout=60, message="the liveness probe to restart the container")
    assert status["lastState"]["terminated"]["reason"] == "Error"
    assert status["lastState"]["terminated"]["exitCode"] in (137, 143)  # SIGKILL or SIGTERM


def test_kubectl_logs_reads_a_containers_output_through_the_api_server(api, namespace):
    core = client.CoreV1Api(api)
    lines = [f"line {i} {secrets.token_hex(3)}" for i in range(3)]
    core.create_namespaced_pod(namespace, {
        "metadata": {"name": "talker"},
        "spec": {"restartPolicy": "Never", "containers": [
            python_container("main", "import sys; print(*sys.argv[1:], sep=chr(10))", *lines)]}})
    wait_for_phase(core, namespace, "talker", {"Succeeded"})

    assert core.read_namespaced_pod_log("talker", namespace).splitlines() == lines
    assert core.read_namespaced_pod_log("talker", namespace, tail_lines=1).splitlines() == lines[-1:]


def test_two_pods_listening_on_the_same_port_both_answer(api, namespace):
    core = client.CoreV1Api(api)
    port = 8083
    bind_everywhere = {"name": "BIND_ADDRESS", "value": "0.0.0.0"}
    for name in ("left", "right"):
        core.create_namespaced_pod(namespace, {
            "metadata": {"name": name},
            "spec": {"terminationGracePeriodSeconds": 2, "containers": [python_container(
                "server", NAME_SERVER, str(port), env=[POD_IP_ENV, POD_NAME_ENV, bind_everywhere],
                readinessProbe={"tcpSocket": {"port": port}, "periodSeconds": 1})]}})

    pods = [wait_for(lambda n=name: is_ready(p := read_pod(core, namespace, n)) and p,
                     timeout=60, message=f"pod {name} to be Ready") for name in ("left", "right")]

    assert len({p["status"]["podIP"] for p in pods}) == 2
    for pod in pods:
        assert http_get(pod["status"]["podIP"], port) == pod["metadata"]["name"]
        assert pod["status"]["containerStatuses"][0]["restartCount"] == 0, "neither may fail with EADDRINUSE"


def test_each_pod_runs_in_a_network_namespace_that_goes_with_it(api, namespace):
    core = client.CoreV1Api(api)
    marker = f"marker-{secrets.token_hex(6)}"
    core.create_namespaced_pod(namespace, {
        "metadata": {"name": "isolated"},
        "spec": {"terminationGracePeriodSeconds": 1,
                 "containers": [python_container("main", "import time; time.sleep(3600)", marker)]}})
    pod = wait_for_phase(core, namespace, "isolated", {"Running"})
    layout, uid = pod_network(), pod["metadata"]["uid"]
    netns = NETNS_DIR / layout.netns_name(uid)
    veth = Path("/sys/class/net", layout.host_veth(uid))

    assert netns.exists() and veth.exists()
    assert (veth / "master").resolve().name == layout.bridge
    [pid] = wait_for(lambda: processes_with_argument(marker), timeout=10, message="the container's process")
    assert network_namespace_of(pid) == pinned_namespace(netns)
    assert network_namespace_of(pid) != network_namespace_of(os.getpid())

    core.delete_namespaced_pod("isolated", namespace)

    wait_for(lambda: not pods_with_labels(core, namespace, {}) and not netns.exists() and not veth.exists(),
             timeout=30, message="the pod, its network namespace and its veth to be gone")
    assert processes_with_argument(marker) == []


def test_a_killed_agents_pod_networks_are_replaced_and_down_removes_them_all(kubeconfig, tmp_path):
    """On a throwaway second cluster (its own cache directory, bridge and pod CIDR; it shares
    the built binaries), so the cluster the other tests use stays up."""
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "bin").symlink_to(localcluster.cache_dir() / "bin")
    layout = PodNetworkLayout(f"bldown{os.getpid() % 10000}", ipaddress.IPv4Network("10.246.0.0/24"))
    env = {key: value for key, value in os.environ.items() if key != "KUBECONFIG"}
    env.update(BALLAST_CACHE_DIR=str(cache), BALLAST_POD_BRIDGE=layout.bridge, BALLAST_POD_CIDR=str(layout.cidr))

    def local_cluster(command: str) -> None:
        result = subprocess.run([sys.executable, str(REPO / "tests" / "cluster" / "localcluster.py"), command],
                                env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"localcluster {command}:\n{result.stderr}"

    marker = f"marker-{secrets.token_hex(6)}"
    try:
        local_cluster("up")
        core = client.CoreV1Api(config.new_client_from_config(config_file=str(cache / "kubeconfig")))
        core.create_namespaced_pod("default", {
            "metadata": {"name": "sleeper"},
            "spec": {"terminationGracePeriodSeconds": 1,
                     "containers": [python_container("main", "import time; time.sleep(3600)", marker)]}})
        uid = wait_for_phase(core, "default", "sleeper", {"Running"})["metadata"]["uid"]
        netns, veth = NETNS_DIR / layout.netns_name(uid), Path("/sys/class/net", layout.host_veth(uid))
        first_veth = int((veth / "ifindex").read_text())

        os.kill(int((cache / "nodeagent.pid").read_text()), signal.SIGKILL)
        assert netns.exists(), "a killed agent cleans nothing up"
        local_cluster("up")  # a new agent: removes what the old one left, then resumes the pod

        def replaced():
            index = int((veth / "ifindex").read_text())  # the host never reuses an ifindex soon
            return index != first_veth and len(processes_with_argument(marker)) == 1
        wait_for(replaced, timeout=60, message="the pod to run again in a new network namespace")
        assert [n for n in os.listdir(NETNS_DIR) if layout.owns_netns(n)] == [netns.name]
    finally:
        local_cluster("down")

    assert not [n for n in os.listdir(NETNS_DIR) if layout.owns_netns(n)]
    assert not Path("/sys/class/net", layout.bridge).exists()
    assert not veth.exists()
    assert processes_with_argument(marker) == []
