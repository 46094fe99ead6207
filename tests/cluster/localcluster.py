"""Brings Ballast's local Kubernetes cluster up and down.

A real control plane (etcd, kube-apiserver with RBAC and the default admission plugins,
kube-controller-manager, kube-scheduler) built by build.sh and started by `kwokctl --runtime
binary`, plus the node agent (tests/cluster/nodeagent), which registers the Node
`ballast-node-0` and runs the pods scheduled to it as host processes, each pod in a network
namespace of its own on the bridge `ballast0` (pod CIDR 10.244.0.0/16, gateway 10.244.0.1;
BALLAST_POD_BRIDGE and BALLAST_POD_CIDR choose others, so two clusters can share a machine).
KWOK's own controller runs too, but only for nodes annotated `kwok.x-k8s.io/node=fake` (scale
tests create those).

    python tests/cluster/localcluster.py up|down|status|kubeconfig|restart-agent

or, from Python: `kubeconfig = localcluster.up()`. Everything lives under
${BALLAST_CACHE_DIR:-~/.cache/ballast}: the binaries, kwokctl's workdir (kwok/), the agent's
state (node/), pod logs (logs/<namespace>_<pod>_<uid>/<container>.log), the agent's own log
(nodeagent.log) and the stable kubeconfig (kubeconfig).
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CLUSTER_NAME = "ballast"
NODE_NAME = "ballast-node-0"
# KWOK's controller handles only the fake nodes; the agent's real node must be left alone.
FAKE_NODE_SELECTOR = "kwok.x-k8s.io/node=fake"
DEFAULT_POD_BRIDGE = "ballast0"
DEFAULT_POD_CIDR = "10.244.0.0/16"
SERVICE_CIDR = "10.96.0.0/16"  # kubeadm's default range; must not overlap the pod CIDR
READY_TIMEOUT_SECONDS = 180
AGENT_STOP_SECONDS = 60


def cache_dir() -> Path:
    explicit = os.environ.get("BALLAST_CACHE_DIR")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ballast"


def kubeconfig_path() -> Path:
    """Stable across clusters: what tests and `kubectl --kubeconfig` use."""
    return cache_dir() / "kubeconfig"


def _kwok_workdir() -> Path:
    return cache_dir() / "kwok"


def _kwok_kubeconfig() -> Path:
    return _kwok_workdir() / "clusters" / CLUSTER_NAME / "kubeconfig.yaml"


def _kwok_pki() -> Path:
    return _kwok_workdir() / "clusters" / CLUSTER_NAME / "pki"


def pod_bridge() -> str:
    return os.environ.get("BALLAST_POD_BRIDGE") or DEFAULT_POD_BRIDGE


def pod_cidr() -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network(os.environ.get("BALLAST_POD_CIDR") or DEFAULT_POD_CIDR)


def pod_gateway() -> str:
    """The host's address on the pod bridge: where pods reach the API server."""
    return str(pod_cidr().network_address + 1)


def kube_version() -> str:
    """KUBE_VERSION from versions.env, which the agent reports as its kubelet version."""
    for line in (HERE / "versions.env").read_text().splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "KUBE_VERSION":
            return value.strip()
    return "v0.0.0"


def _agent_state_dir() -> Path:
    return cache_dir() / "node"


def _agent_pidfile() -> Path:
    return cache_dir() / "nodeagent.pid"


def _agent_log() -> Path:
    return cache_dir() / "nodeagent.log"


def _log(message: str) -> None:
    print(f"localcluster: {message}", file=sys.stderr, flush=True)


# --- binaries and kwokctl ----------------------------------------------------------------


def build_binaries() -> Path:
    """The directory with every binary (a no-op when build.sh's cache is warm)."""
    result = subprocess.run(["bash", str(HERE / "build.sh")], check=True, stdout=subprocess.PIPE, text=True)
    return Path(result.stdout.strip().splitlines()[-1])


def kwokctl_config(bin_dir: Path) -> str:
    """Extra settings kwokctl has no flag for (it reads JSON as YAML)."""
    patches = [
        {"name": "kwok-controller", "extraArgs": [
            {"key": "manage-all-nodes", "value": "false", "override": True},
            {"key": "manage-nodes-with-annotation-selector", "value": FAKE_NODE_SELECTOR},
        ]},
        # Pods live in network namespaces of their own, where 127.0.0.1 is their own `lo`: they
        # reach the host at the pod bridge's gateway address, so the API server listens there
        # as well as on 127.0.0.1 (it takes one bind address, hence all of them), and advertises
        # the gateway, which also puts it in the `kubernetes` Service's endpoints.
        {"name": "kube-apiserver", "extraArgs": [
            {"key": "bind-address", "value": "0.0.0.0", "override": True},
            {"key": "advertise-address", "value": pod_gateway()},
            # kube-apiserver's default, 10.0.0.0/24, holds 254 Services: one test session
            # (a Service per served ModelVersion, the scale benchmark's thousands) exhausts it
            {"key": "service-cluster-ip-range", "value": SERVICE_CIDR},
        ]},
    ]
    return json.dumps({
        "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
        "kind": "KwokctlConfiguration",
        # every other component stays on loopback; the gateway must be in the serving
        # certificate, or pods' TLS verification (ca.crt + KUBERNETES_SERVICE_HOST) fails
        "options": {"bindAddress": "127.0.0.1", "kubectlBinary": str(bin_dir / "kubectl"),
                    "kubeApiserverCertSANs": [pod_gateway()]},
        "componentsPatches": patches,
    }, indent=2)


def _kwokctl(bin_dir: Path, *args: str) -> str:
    """Runs kwokctl quietly; its JSON log is shown only when it fails."""
    env = dict(os.environ, KWOK_WORKDIR=str(_kwok_workdir()))
    result = subprocess.run([str(bin_dir / "kwokctl"), *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        raise RuntimeError(f"kwokctl {' '.join(args)} failed ({result.returncode}):\n{result.stdout}")
    return result.stdout


def create_cluster(bin_dir: Path) -> None:
    config_file = cache_dir() / "kwokctl.yaml"
    config_file.write_text(kwokctl_config(bin_dir))
    _log("creating the control plane with kwokctl")
    _kwokctl(bin_dir, "create", "cluster", "--name", CLUSTER_NAME, "--runtime", "binary",
             "--config", str(config_file),
             "--kube-apiserver-binary", str(bin_dir / "kube-apiserver"),
             "--kube-controller-manager-binary", str(bin_dir / "kube-controller-manager"),
             "--kube-scheduler-binary", str(bin_dir / "kube-scheduler"),
             "--etcd-binary", str(bin_dir / "etcd"),
             "--kwok-controller-binary", str(bin_dir / "kwok"),
             "--kube-authorization", "--kube-admission",
             "--wait", "2m")


def _cluster_exists() -> bool:
    return _kwok_kubeconfig().exists()


def _kubectl(bin_dir: Path, *args: str, timeout: float = 10) -> subprocess.CompletedProcess:
    return subprocess.run([str(bin_dir / "kubectl"), "--kubeconfig", str(kubeconfig_path()),
                           "--request-timeout", f"{int(timeout)}s", *args],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout + 5)


def _api_ready(bin_dir: Path) -> bool:
    try:
        return _kubectl(bin_dir, "get", "--raw", "/readyz", timeout=5).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def _publish_kubeconfig() -> None:
    """A copy at a stable path (kwokctl's file is under its workdir and goes with the cluster)."""
    target = kubeconfig_path()
    staging = target.with_suffix(".tmp")
    shutil.copyfile(_kwok_kubeconfig(), staging)
    os.replace(staging, target)


def _ensure_control_plane(bin_dir: Path) -> None:
    if not _cluster_exists():
        create_cluster(bin_dir)
        _publish_kubeconfig()
        return
    config_file = cache_dir() / "kwokctl.yaml"
    if not config_file.exists() or config_file.read_text() != kwokctl_config(bin_dir):
        # Flags and certificates are fixed when kwokctl creates the cluster, and a cluster that
        # keeps old ones fails in ways far from the cause (pods that cannot reach the API
        # server, a Service range that fills up): a throwaway cluster is recreated instead.
        _log(f"the cluster was created with other settings than {HERE / 'localcluster.py'} now gives: recreating it")
        _forget_cluster(bin_dir)
        create_cluster(bin_dir)
    _publish_kubeconfig()
    if not _api_ready(bin_dir):
        # created before, but its processes are gone (a reboot, or someone killed them)
        _log("starting the existing control plane")
        _kwokctl(bin_dir, "start", "cluster", "--name", CLUSTER_NAME, "--wait", "2m")


# --- the node agent ------------------------------------------------------------------------


def _agent_pid() -> int | None:
    """The running agent's pid, if the pidfile names a live node agent."""
    try:
        pid = int(_agent_pidfile().read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    return pid if b"nodeagent" in cmdline else None


def start_agent() -> int:
    missing = [name for name in ("kubernetes", "yaml") if importlib.util.find_spec(name) is None]
    if missing:
        raise RuntimeError(f"{sys.executable} lacks {', '.join(missing)}, which the node agent needs; "
                           "run this with the project's virtualenv (.venv/bin/python)")
    cache = cache_dir()
    log_file = open(_agent_log(), "ab")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])),
               # pods run commands from the host's PATH: put this virtualenv's (with `ballast`) first
               PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "/usr/bin:/bin")]))
    argv = [sys.executable, "-m", "nodeagent", "--kubeconfig", str(kubeconfig_path()),
            "--state-dir", str(_agent_state_dir()), "--log-dir", str(cache / "logs"), "--node-name", NODE_NAME,
            # kwokctl's API server certificate (SANs include 127.0.0.1) doubles as the kubelet's
            "--tls-cert-file", str(_kwok_pki() / "admin.crt"), "--tls-private-key-file", str(_kwok_pki() / "admin.key"),
            "--kubelet-version", f"{kube_version()}-ballast",
            "--pod-cidr", str(pod_cidr()), "--pod-bridge", pod_bridge()]
    extra = os.environ.get("BALLAST_NODEAGENT_ARGS")  # e.g. "--honor-run-as-user --pod-cidr ..."
    if extra:
        argv += extra.split()
    process = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                               start_new_session=True, cwd=str(cache))
    _agent_pidfile().write_text(f"{process.pid}\n")
    _log(f"node agent started (pid {process.pid}, log {_agent_log()})")
    return process.pid


def stop_agent() -> None:
    pid = _agent_pid()
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + AGENT_STOP_SECONDS
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _alive(pid):
            _log(f"node agent {pid} did not stop in {AGENT_STOP_SECONDS}s; killing it")
            os.kill(pid, signal.SIGKILL)
    _agent_pidfile().unlink(missing_ok=True)
    _kill_orphaned_containers()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (our own child that nobody reaped) is as good as gone
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _process_tracker():
    sys.path.insert(0, str(HERE))
    from nodeagent.processes import ProcessTracker, tracker_scope
    return ProcessTracker(tracker_scope(NODE_NAME, _agent_state_dir()))


def _remove_pod_network() -> None:
    """The bridge and any pod namespace or veth on it; the agent keeps the bridge between its
    own restarts, so only `down` removes it. Skipped while another agent holds the bridge."""
    sys.path.insert(0, str(HERE))
    from nodeagent.iproute import IpCommandError
    from nodeagent.podnetwork import PodNetwork, PodNetworkLayout
    network = PodNetwork(PodNetworkLayout(pod_bridge(), pod_cidr()))
    if not network.try_acquire():
        _log(f"bridge {pod_bridge()} is held by a running node agent; leaving it")
        return
    try:
        network.remove_bridge()
    except IpCommandError as error:
        _log(f"could not remove the pod network: {error}")
    finally:
        network.release()


def _kill_orphaned_containers() -> None:
    """Pod processes left by an agent that died without cleaning up (its cgroups say which)."""
    killed = _process_tracker().kill_leftovers()
    if killed:
        _log(f"killed {killed} orphaned pod processes")


def _wait_until_node_ready(bin_dir: Path, agent_pid: int) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    checks = {
        "node Ready": ["get", "node", NODE_NAME, "-o", "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}"],
        "node schedulable": ["get", "node", NODE_NAME, "-o", "jsonpath={.spec.taints}"],
        "default ServiceAccount": ["get", "serviceaccount", "default", "-n", "default", "-o", "name"],
        "default StorageClass": ["get", "storageclass", "ballast-local", "-o", "name"],
    }
    expected = {"node Ready": "True", "node schedulable": ""}
    pending = dict(checks)
    while pending:
        for name, args in list(pending.items()):
            try:
                result = _kubectl(bin_dir, *args, timeout=5)
            except subprocess.TimeoutExpired:
                continue
            output = result.stdout.strip()
            if result.returncode == 0 and (output == expected[name] if name in expected else output):
                del pending[name]
        if not pending:
            return
        if not _alive(agent_pid):
            raise RuntimeError(f"the node agent exited; see {_agent_log()}:\n{_tail(_agent_log())}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"cluster not ready after {READY_TIMEOUT_SECONDS}s, waiting for {sorted(pending)}; "
                               f"see {_agent_log()}")
        time.sleep(0.5)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# --- the public face -----------------------------------------------------------------------


@contextlib.contextmanager
def _exclusive():
    """One up/down at a time, so two test sessions starting together get one cluster and one agent."""
    cache_dir().mkdir(parents=True, exist_ok=True)
    with open(cache_dir() / "localcluster.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def up() -> Path:
    """Idempotent: builds what is missing, starts what is not running, returns the kubeconfig."""
    with _exclusive():
        bin_dir = build_binaries()
        _ensure_control_plane(bin_dir)
        pid = _agent_pid()
        if pid is None:
            _kill_orphaned_containers()
            pid = start_agent()
        _wait_until_node_ready(bin_dir, pid)
        return kubeconfig_path()


def _forget_cluster(bin_dir: Path) -> None:
    stop_agent()
    if _cluster_exists():
        _kwokctl(bin_dir, "delete", "cluster", "--name", CLUSTER_NAME)
    # pod sandboxes and provisioned volumes belong to the deleted cluster; logs stay for people
    _process_tracker().remove()
    _remove_pod_network()
    shutil.rmtree(_agent_state_dir(), ignore_errors=True)


def down() -> None:
    """Stops every pod process, the agent and the control plane, and forgets the cluster's state."""
    with _exclusive():
        _forget_cluster(build_binaries())
        kubeconfig_path().unlink(missing_ok=True)


def restart_agent() -> Path:
    """Picks up changes to the agent's code; running pods are restarted by the new agent."""
    with _exclusive():
        stop_agent()
    return up()


def status() -> dict:
    bin_dir = build_binaries()
    report = {"cluster_exists": _cluster_exists(), "kubeconfig": str(kubeconfig_path()),
              "api_ready": _cluster_exists() and _api_ready(bin_dir), "agent_pid": _agent_pid(),
              "agent_log": str(_agent_log()),
              "pod_network": {"bridge": pod_bridge(), "cidr": str(pod_cidr()), "gateway": pod_gateway(),
                              "bridge_exists": Path("/sys/class/net", pod_bridge()).exists()}}
    if report["api_ready"]:
        nodes = _kubectl(bin_dir, "get", "nodes", "-o", "wide")
        report["nodes"] = nodes.stdout.strip().splitlines()
    return report


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "status"
    if command == "up":
        print(up())
    elif command == "down":
        down()
    elif command == "restart-agent":
        print(restart_agent())
    elif command == "kubeconfig":
        print(kubeconfig_path())
    elif command == "status":
        print(json.dumps(status(), indent=2))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
