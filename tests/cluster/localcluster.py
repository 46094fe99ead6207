"""Brings Ballast's local Kubernetes cluster up and down.

A real control plane (etcd, kube-apiserver with RBAC and the default admission plugins,
kube-controller-manager, kube-scheduler) built by build.sh and started by `kwokctl --runtime
binary`, plus a real node `ballast-node-0` (node.py: containerd, runc, the bridge CNI plugin
and a kubelet, as host processes), the image registry it pulls from (registry.py, with the
pause and toolbox images of images.py), a hostPath volume provisioner (provisioner.py),
metrics-server (metricsserver.py) and the cluster DNS, CoreDNS (clusterdns.py).
Pods live on the bridge `ballast0` (pod CIDR 10.244.0.0/16, gateway 10.244.0.1;
BALLAST_POD_BRIDGE and BALLAST_POD_CIDR choose others).
KWOK's own controller runs too, but only for nodes annotated `kwok.x-k8s.io/node=fake` (scale
tests create those).

    python tests/cluster/localcluster.py up|down|status|kubeconfig|registry|restart-node

or, from Python: `kubeconfig = localcluster.up()`, `localcluster.toolbox_image()`,
`localcluster.registry_address()`. Everything lives under ${BALLAST_CACHE_DIR:-~/.cache/ballast}:
the binaries, kwokctl's workdir (kwok/), the node's state (node/), the registry's storage
(registry/), the images built for it (images/), logs (logs/) and the stable kubeconfig.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import ipaddress
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the node's modules, when this is imported from elsewhere

import clusterdns  # noqa: E402
import hostpackages  # noqa: E402
import images  # noqa: E402
import metricsserver  # noqa: E402
import node  # noqa: E402
import registry  # noqa: E402
import supervise  # noqa: E402
from supervise import Daemon  # noqa: E402

CLUSTER_NAME = "ballast"
NODE_NAME = "ballast-node-0"
# KWOK's controller handles only the fake nodes; the real node must be left alone.
FAKE_NODE_SELECTOR = "kwok.x-k8s.io/node=fake"
DEFAULT_POD_BRIDGE = "ballast0"
DEFAULT_POD_CIDR = "10.244.0.0/16"
SERVICE_CIDR = "10.96.0.0/16"  # kubeadm's default range; must not overlap the pod CIDR
# The `kubernetes` Service's port: with no kube-proxy, pods reach its ClusterIP (a host
# address) at the API server's own port, so the API server must listen on the Service's.
DEFAULT_API_SERVER_PORT = 443
READY_TIMEOUT_SECONDS = 180
PROXY_CLIENT_NAME = "kwok-admin"
"""The common name of the certificate kwokctl gives the API server as its proxy client
(--proxy-client-cert-file, its admin certificate): whose X-Remote-User headers metrics-server trusts."""
KUBELET_STARTS = 3


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
    """The host's address on the pod bridge: pods reach the host there."""
    return str(pod_cidr().network_address + 1)


def api_service_ip() -> str:
    """The `kubernetes` Service's ClusterIP (the first of the range): pods' KUBERNETES_SERVICE_HOST."""
    return str(ipaddress.IPv4Network(SERVICE_CIDR).network_address + 1)


def metrics_service_ip() -> str:
    """metrics-server's Service's ClusterIP, the second of the range (its low band is left to fixed
    assignments), and like the first an address of the bridge: with no kube-proxy, that is how
    the API server's aggregator, which dials a Service's ClusterIP, reaches the host process."""
    return str(ipaddress.IPv4Network(SERVICE_CIDR).network_address + 2)


def dns_service_ip() -> str:
    """The `kube-dns` Service's ClusterIP, the tenth of the range as kubeadm's is: an address of the
    bridge where CoreDNS listens, and the nameserver the kubelet gives pods (clusterdns.py)."""
    return str(ipaddress.IPv4Network(SERVICE_CIDR).network_address + 10)


def api_server_port() -> int:
    """443 unless BALLAST_API_SERVER_PORT says otherwise (0: any free port), as a second cluster
    on the machine must; that cluster's pods then cannot use their in-cluster config."""
    return int(os.environ.get("BALLAST_API_SERVER_PORT") or DEFAULT_API_SERVER_PORT)


def registry_address() -> str:
    """host:port of the registry the node pulls from (plain HTTP)."""
    return registry.address()


def toolbox_image() -> str:
    """A busybox image (sh and the usual tools, runs as uid 65532) in the node's registry."""
    return images.toolbox_image().reference


def kube_version() -> str:
    """KUBE_VERSION from versions.env: the kubelet's and the control plane's."""
    for line in (HERE / "versions.env").read_text().splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "KUBE_VERSION":
            return value.strip()
    return "v0.0.0"


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
        {
            "name": "kwok-controller",
            "extraArgs": [
                {"key": "manage-all-nodes", "value": "false", "override": True},
                {"key": "manage-nodes-with-annotation-selector", "value": FAKE_NODE_SELECTOR},
            ],
        },
        # Pods live in network namespaces of their own, where 127.0.0.1 is their own `lo`: they
        # reach the host at the pod bridge's gateway address and at the `kubernetes` Service's
        # ClusterIP (another address of the bridge), so the API server listens there as well as on
        # 127.0.0.1 (it takes one bind address, hence all of them), and advertises the gateway,
        # which also puts it in the `kubernetes` Service's endpoints.
        {
            "name": "kube-apiserver",
            "extraArgs": [
                {"key": "bind-address", "value": "0.0.0.0", "override": True},
                {"key": "advertise-address", "value": pod_gateway()},
                # kube-apiserver's default, 10.0.0.0/24, holds 254 Services: one test session
                # (a Service per served ModelVersion, the scale benchmark's thousands) exhausts it
                {"key": "service-cluster-ip-range", "value": SERVICE_CIDR},
                # kwokctl gives it no kubelet client certificate, and the kubelet admits no
                # anonymous `kubectl logs`/`exec`: admin's (system:masters) it is
                {"key": "kubelet-client-certificate", "value": str(_kwok_pki() / "admin.crt")},
                {"key": "kubelet-client-key", "value": str(_kwok_pki() / "admin.key")},
                # the node's name resolves nowhere; its InternalIP is the gateway
                {"key": "kubelet-preferred-address-types", "value": "InternalIP"},
            ],
        },
    ]
    return json.dumps(
        {
            "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
            "kind": "KwokctlConfiguration",
            # every other component stays on loopback; the gateway and the ClusterIP must be in the
            # serving certificate, or pods' TLS verification (ca.crt + KUBERNETES_SERVICE_HOST) fails
            "options": {
                "bindAddress": "127.0.0.1",
                "kubectlBinary": str(bin_dir / "kubectl"),
                "kubeApiserverPort": api_server_port(),
                "kubeApiserverCertSANs": [pod_gateway(), api_service_ip()],
            },
            "componentsPatches": patches,
        },
        indent=2,
    )


def _kwokctl(bin_dir: Path, *args: str) -> str:
    """Runs kwokctl quietly; its JSON log is shown only when it fails."""
    env = dict(os.environ, KWOK_WORKDIR=str(_kwok_workdir()))
    result = subprocess.run(
        [str(bin_dir / "kwokctl"), *args], env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    if result.returncode != 0:
        raise RuntimeError(f"kwokctl {' '.join(args)} failed ({result.returncode}):\n{result.stdout}")
    return result.stdout


def create_cluster(bin_dir: Path) -> None:
    config_file = cache_dir() / "kwokctl.yaml"
    config_file.write_text(kwokctl_config(bin_dir))
    _log("creating the control plane with kwokctl")
    _kwokctl(
        bin_dir,
        "create",
        "cluster",
        "--name",
        CLUSTER_NAME,
        "--runtime",
        "binary",
        "--config",
        str(config_file),
        "--kube-apiserver-binary",
        str(bin_dir / "kube-apiserver"),
        "--kube-controller-manager-binary",
        str(bin_dir / "kube-controller-manager"),
        "--kube-scheduler-binary",
        str(bin_dir / "kube-scheduler"),
        "--etcd-binary",
        str(bin_dir / "etcd"),
        "--kwok-controller-binary",
        str(bin_dir / "kwok"),
        "--kube-authorization",
        "--kube-admission",
        "--wait",
        "2m",
    )


def _cluster_exists() -> bool:
    return _kwok_kubeconfig().exists()


def _kubectl(bin_dir: Path, *args: str, timeout: float = 10) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            str(bin_dir / "kubectl"),
            "--kubeconfig",
            str(kubeconfig_path()),
            "--request-timeout",
            f"{int(timeout)}s",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=timeout + 5,
    )


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


# --- the real node -------------------------------------------------------------------------


def _api_server_url() -> str:
    for line in _kwok_kubeconfig().read_text().splitlines():
        key, _, value = line.strip().partition(":")
        if key == "server":
            return value.strip()
    raise RuntimeError(f"no server in {_kwok_kubeconfig()}")


def _require_modules(user: str, *names: str) -> None:
    """user runs on this interpreter, and needs these packages."""
    missing = [name for name in names if importlib.util.find_spec(name) is None]
    if missing:
        raise RuntimeError(
            f"{sys.executable} lacks {', '.join(missing)}, which {user} needs; "
            "run this with the project's virtualenv (.venv/bin/python)"
        )


def _node_layout() -> node.NodeLayout:
    return node.NodeLayout(
        cache=cache_dir(),
        node_name=NODE_NAME,
        bridge=pod_bridge(),
        pod_cidr=pod_cidr(),
        service_ip=api_service_ip(),
        pki=_kwok_pki(),
        cluster_dns=dns_service_ip(),
        cluster_domain=clusterdns.CLUSTER_DOMAIN,
        host_service_ips=(metrics_service_ip(), dns_service_ip()),
    )


def _provisioner_daemon() -> Daemon:
    state = _node_layout().root
    argv = [
        sys.executable,
        str(HERE / "provisioner.py"),
        "--kubeconfig",
        str(kubeconfig_path()),
        "--volumes-dir",
        str(state / "volumes"),
    ]
    return Daemon("provisioner", argv, pidfile=state / "provisioner.pid", log=cache_dir() / "logs" / "provisioner.log")


def _metrics_server_state() -> Path:
    return _node_layout().root / "metrics-server"


def _metrics_server_daemon(bin_dir: Path) -> Daemon:
    return metricsserver.daemon(
        bin_dir,
        _metrics_server_state(),
        cache_dir() / "logs" / "metrics-server.log",
        kubeconfig=kubeconfig_path(),
        address=metrics_service_ip(),
        ca_dir=_kwok_pki(),
        proxy_client_name=PROXY_CLIENT_NAME,
    )


def _cluster_dns_state() -> Path:
    return _node_layout().root / "coredns"


def _cluster_dns_daemon(bin_dir: Path) -> Daemon:
    return clusterdns.daemon(bin_dir, _cluster_dns_state(), cache_dir() / "logs" / "coredns.log")


def _node_daemons(bin_dir: Path) -> dict[str, Daemon]:
    """In start order."""
    layout = _node_layout()
    return {
        "registry": registry.daemon(bin_dir, cache_dir()),
        "containerd": node.containerd_daemon(layout),
        "kubelet": node.kubelet_daemon(layout, bin_dir),
        "provisioner": _provisioner_daemon(),
        "metrics-server": _metrics_server_daemon(bin_dir),
        "coredns": _cluster_dns_daemon(bin_dir),
    }


def _register(bin_dir: Path, name: str, document: str) -> None:
    """Applies a host process's registration (kept by kubectl apply: a recreated cluster has none)."""
    manifest = cache_dir() / f"{name}.json"
    manifest.write_text(document)
    result = _kubectl(bin_dir, "apply", "-f", str(manifest), timeout=30)
    if result.returncode != 0:
        raise RuntimeError(f"registering {name} failed:\n{result.stderr}")


def _register_metrics_server(bin_dir: Path) -> None:
    """The APIService and the Service and EndpointSlice it names (a new CA changes the caBundle)."""
    _register(bin_dir, "metrics-server", metricsserver.registration(_kwok_pki() / "ca.crt", metrics_service_ip()))


@dataclass(frozen=True)
class NodeProcesses:
    check_alive: Callable[[], None]
    """Raises once one of them has exited for good."""
    heartbeat_after: datetime | None
    """When the kubelet was started by this call: the Node's Ready condition then says nothing
    until the new kubelet has renewed the node's Lease (the old Ready stays True for minutes)."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _ensure_real_node(bin_dir: Path) -> NodeProcesses:
    """Starts what is not running."""
    _require_modules("the volume provisioner", "kubernetes")
    hostpackages.ensure_packages()
    daemons = _node_daemons(bin_dir)
    if registry.prepare(cache_dir()):
        daemons["registry"].stop()
    registry_pid = daemons["registry"].ensure()
    registry.wait_until_serving(daemons["registry"], registry_pid)
    images.ensure_images(cache_dir())
    layout = _node_layout()
    node.setup_network(layout)
    if node.prepare_containerd(layout, images.digest_reference(images.pause_image()), registry.address()):
        daemons["containerd"].stop()  # its containers keep running under their shims
    containerd_pid = daemons["containerd"].ensure()
    node.wait_for_socket(daemons["containerd"], containerd_pid, layout.containerd_socket)
    if node.prepare_kubelet(layout, _api_server_url()):
        daemons["kubelet"].stop()
    kubelet = daemons["kubelet"]
    kubelet_was_running = kubelet.pid() is not None
    if metricsserver.prepare(_metrics_server_state(), ca_dir=_kwok_pki(), address=metrics_service_ip()):
        daemons["metrics-server"].stop()
    if clusterdns.prepare(_cluster_dns_state(), address=dns_service_ip(), kubeconfig=kubeconfig_path()):
        daemons["coredns"].stop()
    running = {
        "registry": registry_pid,
        "containerd": containerd_pid,
        **{name: daemons[name].ensure() for name in ("kubelet", "provisioner", "metrics-server", "coredns")},
    }
    _register_metrics_server(bin_dir)
    _register(bin_dir, "cluster-dns", clusterdns.registration(dns_service_ip()))
    clusterdns.wait_until_ready(daemons["coredns"], running["coredns"], dns_service_ip())
    kubelet_starts = 0 if kubelet_was_running else 1

    def check() -> None:
        nonlocal kubelet_starts
        # A kubelet that finds containerd's CRI not serving yet (it still recovers its state
        # after an unclean stop) exits at once: it is started again, as systemd would.
        if not supervise.alive(running["kubelet"]) and 0 < kubelet_starts < KUBELET_STARTS:
            _log(f"the kubelet exited at start:\n{supervise.tail(kubelet.log, 3)}\nstarting it again")
            running["kubelet"] = kubelet.ensure()
            kubelet_starts += 1
        for name, pid in running.items():
            daemons[name].check_alive(pid)

    return NodeProcesses(check, heartbeat_after=None if kubelet_was_running else _utc_now())


def _stop_real_node(bin_dir: Path) -> None:
    """The kubelet goes first, so nothing restarts the containers killed next; then what they
    mounted and the network. The registry's storage stays, so pushed images keep their digests."""
    daemons = _node_daemons(bin_dir)
    layout = _node_layout()
    daemons["kubelet"].stop()
    daemons["provisioner"].stop()
    daemons["metrics-server"].stop()
    daemons["coredns"].stop()
    killed = node.kill_containers(layout)
    if killed:
        _log(f"removed {killed} containers")
    daemons["containerd"].stop()
    daemons["registry"].stop()
    node.unmount_all(layout.root)
    node.remove_pod_cgroups()
    node.remove_network(layout)


def _heartbeat_since(bin_dir: Path, moment: datetime) -> bool:
    """Whether the kubelet renewed its node's Lease after moment."""
    try:
        result = _kubectl(
            bin_dir, "get", "lease", NODE_NAME, "-n", "kube-node-lease", "-o", "jsonpath={.spec.renewTime}", timeout=5
        )
    except subprocess.TimeoutExpired:
        return False
    renewed = result.stdout.strip() if result.returncode == 0 else ""
    return bool(renewed) and datetime.fromisoformat(renewed.replace("Z", "+00:00")) > moment


def _wait_until_node_ready(bin_dir: Path, processes: NodeProcesses, logs: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    check_alive = processes.check_alive
    checks = {
        "node Ready": ["get", "node", NODE_NAME, "-o", 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'],
        "node schedulable": ["get", "node", NODE_NAME, "-o", "jsonpath={.spec.taints}"],
        "default ServiceAccount": ["get", "serviceaccount", "default", "-n", "default", "-o", "name"],
        "default StorageClass": ["get", "storageclass", "ballast-local", "-o", "name"],
    }
    expected = {"node Ready": "True", "node schedulable": ""}
    pending = dict(checks)
    heartbeat_after = processes.heartbeat_after
    while pending or heartbeat_after:
        if heartbeat_after and _heartbeat_since(bin_dir, heartbeat_after):
            heartbeat_after = None
        for name, args in list(pending.items()):
            try:
                result = _kubectl(bin_dir, *args, timeout=5)
            except subprocess.TimeoutExpired:
                continue
            output = result.stdout.strip()
            if result.returncode == 0 and (output == expected[name] if name in expected else output):
                del pending[name]
        if not pending and not heartbeat_after:
            return
        check_alive()
        if time.monotonic() > deadline:
            waiting = sorted(pending) + (["the new kubelet's heartbeat"] if heartbeat_after else [])
            raise TimeoutError(f"cluster not ready after {READY_TIMEOUT_SECONDS}s, waiting for {waiting}; see {logs}")
        time.sleep(0.5)


# --- the public face -----------------------------------------------------------------------


@contextlib.contextmanager
def _exclusive():
    """One up/down at a time, so two test sessions starting together get one cluster and one node."""
    cache_dir().mkdir(parents=True, exist_ok=True)
    with open(cache_dir() / "localcluster.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def up() -> Path:
    """Idempotent: builds what is missing, starts what is not running, returns the kubeconfig."""
    with _exclusive():
        bin_dir = build_binaries()
        _ensure_control_plane(bin_dir)
        _wait_until_node_ready(bin_dir, _ensure_real_node(bin_dir), str(cache_dir() / "logs"))
        return kubeconfig_path()


def _forget_cluster(bin_dir: Path) -> None:
    _stop_real_node(bin_dir)
    if _cluster_exists():
        _kwokctl(bin_dir, "delete", "cluster", "--name", CLUSTER_NAME)
    # the node's state (pod volumes, provisioned volumes) belongs to the deleted cluster; logs
    # and the registry's images stay
    shutil.rmtree(_node_layout().root, ignore_errors=True)


def down() -> None:
    """Stops every container, the node, the registry and the control plane, and forgets the cluster's state."""
    with _exclusive():
        _forget_cluster(build_binaries())
        kubeconfig_path().unlink(missing_ok=True)


def restart_node() -> Path:
    """Stops the kubelet and containerd and starts them again, as a node's runtime upgrade or
    crash would: containers live on under their shims and the new kubelet takes them back."""
    with _exclusive():
        daemons = _node_daemons(build_binaries())
        daemons["kubelet"].stop()
        daemons["containerd"].stop()
    return up()


def status() -> dict:
    bin_dir = build_binaries()
    report = {
        "cluster_exists": _cluster_exists(),
        "kubeconfig": str(kubeconfig_path()),
        "api_ready": _cluster_exists() and _api_ready(bin_dir),
        "node_processes": {
            name: {"pid": daemon.pid(), "log": str(daemon.log)} for name, daemon in _node_daemons(bin_dir).items()
        },
        "registry": registry_address(),
        "toolbox_image": toolbox_image(),
        "pod_network": {
            "bridge": pod_bridge(),
            "cidr": str(pod_cidr()),
            "gateway": pod_gateway(),
            "bridge_exists": Path("/sys/class/net", pod_bridge()).exists(),
            "api_service_ip": api_service_ip(),
            "dns_service_ip": dns_service_ip(),
        },
    }
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
    elif command == "restart-node":
        print(restart_node())
    elif command == "kubeconfig":
        print(kubeconfig_path())
    elif command == "registry":
        print(registry_address())
    elif command == "status":
        print(json.dumps(status(), indent=2))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
