"""The real node: containerd (with runc and the bridge CNI plugin) and a kubelet, as host
processes whose state lives under <cache>/node, registering the Node `ballast-node-0`.

Pod network: the bridge (`ballast0`) and its gateway address are made here rather than by the
bridge plugin, which would switch on net.ipv4.ip_forward for the whole machine when it acts as
gateway; forwarding stays off on the bridge, so pod traffic never leaves the machine. There is
no kube-proxy: the API server listens on :443 and the `kubernetes` Service's ClusterIP is an
address of the host (on the bridge: this kernel has no dummy links), so a pod's in-cluster
config reaches it without any NAT; so are the ClusterIPs of the other Services whose server is a
host process (host_service_ips), the cluster DNS's among them, which the kubelet gives pods as
their nameserver.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pki
from supervise import Daemon, write_config

CNI_BIN_DIR = "/usr/lib/cni"
RUNC = shutil.which("runc") or "/usr/sbin/runc"
KUBELET_PORT = 10250


@dataclass(frozen=True)
class NodeLayout:
    cache: Path
    node_name: str
    bridge: str
    pod_cidr: ipaddress.IPv4Network
    service_ip: str  # the `kubernetes` Service's ClusterIP, a host address on the bridge
    pki: Path  # kwokctl's: the cluster CA signs the kubelet's client certificate
    cluster_dns: str  # the cluster DNS Service's ClusterIP, the nameserver of pods' resolv.conf
    cluster_domain: str  # the domain it answers for: pods' search list ends in it
    host_service_ips: tuple[str, ...] = ()  # other ClusterIPs whose server is a host process

    @property
    def root(self) -> Path:
        return self.cache / "node"

    @property
    def containerd_dir(self) -> Path:
        return self.root / "containerd"

    @property
    def containerd_socket(self) -> Path:
        return self.containerd_dir / "containerd.sock"

    @property
    def runc_root(self) -> Path:
        return self.containerd_dir / "runc"

    @property
    def kubelet_dir(self) -> Path:
        return self.root / "kubelet"

    @property
    def cni_dir(self) -> Path:
        return self.root / "cni"

    @property
    def logs(self) -> Path:
        return self.cache / "logs"

    @property
    def gateway(self) -> str:
        return str(self.pod_cidr.network_address + 1)


# --- the host network ----------------------------------------------------------------------


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def _link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def _ensure_address(link: str, address: str) -> None:
    if address not in _ip("-o", "addr", "show", "dev", link).stdout:
        _ip("addr", "add", address, "dev", link)


def setup_network(layout: NodeLayout) -> None:
    prefix = layout.pod_cidr.prefixlen
    if not _link_exists(layout.bridge):
        _refuse_overlap(layout.pod_cidr)
        _ip("link", "add", layout.bridge, "type", "bridge")
    _ensure_address(layout.bridge, f"{layout.gateway}/{prefix}")
    _ip("link", "set", layout.bridge, "up")
    for address in (layout.service_ip, *layout.host_service_ips):
        _ensure_address(layout.bridge, f"{address}/32")
    Path(f"/proc/sys/net/ipv4/conf/{layout.bridge}/forwarding").write_text("0\n")


def _refuse_overlap(cidr: ipaddress.IPv4Network) -> None:
    """A pod CIDR covering a host route would take that traffic away from the machine's links."""
    for route in json.loads(_ip("-j", "-4", "route", "show").stdout or "[]"):
        destination = route.get("dst")
        if destination and destination != "default":
            if ipaddress.IPv4Network(destination, strict=False).overlaps(cidr):
                raise RuntimeError(
                    f"pod CIDR {cidr} overlaps the host route {destination} via {route.get('dev')}; "
                    "choose another with BALLAST_POD_CIDR"
                )


def remove_network(layout: NodeLayout) -> None:
    if _link_exists(layout.bridge):
        _ip("link", "del", layout.bridge, check=False)


def _cni_config(layout: NodeLayout) -> dict:
    return {
        "cniVersion": "0.4.0",
        "name": layout.bridge,
        "plugins": [
            {
                "type": "bridge",
                "bridge": layout.bridge,
                # the bridge and its gateway address are ours (setup_network): as gateway the
                # plugin would switch on ip_forward for the whole machine
                "isGateway": False,
                "isDefaultGateway": False,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(layout.cni_dir / "ipam"),
                    "ranges": [[{"subnet": str(layout.pod_cidr), "gateway": layout.gateway}]],
                    "routes": [{"dst": "0.0.0.0/0", "gw": layout.gateway}],
                },
            },
            {"type": "loopback"},
        ],
    }


# --- containerd ----------------------------------------------------------------------------


def _containerd_config(layout: NodeLayout, sandbox_image: str, registry_address: str) -> str:
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    directory = layout.containerd_dir
    return f"""version = 2
root = "{directory / "root"}"
state = "{directory / "state"}"
# plugins that would keep state outside our directories, and snapshotters we do not use
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "{layout.containerd_socket}"

[{cri}]
  sandbox_image = "{sandbox_image}"
  # the sandbox asks for oom_score_adj -998 (Guaranteed pods' containers -997), which needs
  # CAP_SYS_RESOURCE this root shell lacks; this clamps them to what we may set
  restrict_oom_score_adj = true
  # network namespaces under our state directory, not /run/netns, so `down` finds all of them
  netns_mounts_under_state_dir = true
  enable_selinux = false

[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[{cri}.containerd.runtimes.runc.options]
  BinaryName = "{RUNC}"
  Root = "{layout.runc_root}"
  # the kubelet is told cgroupfs too: containerd 1.6 cannot tell it which driver it uses
  SystemdCgroup = false

[{cri}.cni]
  bin_dir = "{CNI_BIN_DIR}"
  conf_dir = "{layout.cni_dir / "net.d"}"
  max_conf_num = 1

[{cri}.registry]
  config_path = "{directory / "certs.d"}"
"""


def _hosts_toml(registry_address: str) -> str:
    return (
        f'server = "http://{registry_address}"\n\n'
        f'[host."http://{registry_address}"]\n  capabilities = ["pull", "resolve"]\n'
    )


def prepare_containerd(layout: NodeLayout, sandbox_image: str, registry_address: str) -> bool:
    """Writes containerd's configuration; True when containerd must restart to read it (it
    rereads the CNI configuration and the registry's hosts.toml by itself)."""
    directory = layout.containerd_dir
    write_config(directory / "certs.d" / registry_address / "hosts.toml", _hosts_toml(registry_address))
    write_config(layout.cni_dir / "net.d" / "10-ballast.conflist", json.dumps(_cni_config(layout), indent=2))
    return write_config(directory / "config.toml", _containerd_config(layout, sandbox_image, registry_address))


def containerd_daemon(layout: NodeLayout) -> Daemon:
    argv = [shutil.which("containerd") or "/usr/bin/containerd", "--config", str(layout.containerd_dir / "config.toml")]
    return Daemon("containerd", argv, pidfile=layout.root / "containerd.pid", log=layout.logs / "containerd.log")


def wait_for_socket(daemon: Daemon, pid: int, socket: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not socket.is_socket():
        daemon.check_alive(pid)
        if time.monotonic() > deadline:
            raise TimeoutError(f"{daemon.name} did not create {socket} in {timeout}s; see {daemon.log}")
        time.sleep(0.05)


# --- the kubelet ---------------------------------------------------------------------------


def _ensure_client_certificate(layout: NodeLayout) -> tuple[Path, Path]:
    """The kubelet's identity, system:node:<name> in system:nodes, signed by the cluster CA:
    what the Node authorizer and NodeRestriction expect of a kubelet."""
    return pki.ensure_signed_certificate(
        layout.kubelet_dir / "client",
        "kubelet",
        subject=f"/O=system:nodes/CN=system:node:{layout.node_name}",
        ca_dir=layout.pki,
    )


def _kubeconfig(layout: NodeLayout, api_server: str, cert: Path, key: Path) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "kubelet",
        "clusters": [
            {"name": "local", "cluster": {"server": api_server, "certificate-authority": str(layout.pki / "ca.crt")}}
        ],
        "users": [{"name": "kubelet", "user": {"client-certificate": str(cert), "client-key": str(key)}}],
        "contexts": [{"name": "kubelet", "context": {"cluster": "local", "user": "kubelet"}}],
    }


def _kubelet_config(layout: NodeLayout) -> dict:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": layout.gateway,
        "port": KUBELET_PORT,
        "readOnlyPort": 0,
        "healthzBindAddress": layout.gateway,
        # the API server authenticates to the kubelet (logs, exec) with a certificate of the
        # cluster CA, and the kubelet asks it whether that user may
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(layout.pki / "ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        "containerRuntimeEndpoint": f"unix://{layout.containerd_socket}",
        "cgroupDriver": "cgroupfs",
        # the machine mounts cgroup v1 (1.34 deprecates it; this keeps it allowed)
        "failCgroupV1": False,
        "failSwapOn": False,
        # the default, -999, needs CAP_SYS_RESOURCE
        "oomScoreAdj": 0,
        "maxPods": 250,
        # the shared disk sits at ~70%: only a nearly full disk or memory may evict or collect
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "2%",
            "imagefs.available": "2%",
            "nodefs.inodesFree": "2%",
            "imagefs.inodesFree": "2%",
        },
        "imageGCHighThresholdPercent": 99,
        "imageGCLowThresholdPercent": 98,
        "serializeImagePulls": False,
        "podLogsDir": str(layout.logs / "pods"),
        # dnsPolicy Default's (and the host network's): the host's resolvers
        "resolvConf": "/etc/resolv.conf",
        # ClusterFirst's: nameserver, search <ns>.svc.<domain> svc.<domain> <domain>, ndots:5
        "clusterDNS": [layout.cluster_dns],
        "clusterDomain": layout.cluster_domain,
        "registerNode": True,
    }


def prepare_kubelet(layout: NodeLayout, api_server: str) -> bool:
    """Writes the kubelet's configuration; True when it changed, and the kubelet must restart."""
    directory = layout.kubelet_dir
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = _ensure_client_certificate(layout)
    (layout.logs / "pods").mkdir(parents=True, exist_ok=True)
    kubeconfig = write_config(
        directory / "kubeconfig.json", json.dumps(_kubeconfig(layout, api_server, cert, key), indent=2)
    )
    return write_config(directory / "config.json", json.dumps(_kubelet_config(layout), indent=2)) or kubeconfig


def kubelet_daemon(layout: NodeLayout, bin_dir: Path) -> Daemon:
    directory = layout.kubelet_dir
    argv = [
        str(bin_dir / "kubelet"),
        "--config",
        str(directory / "config.json"),
        "--kubeconfig",
        str(directory / "kubeconfig.json"),
        "--root-dir",
        str(directory),
        "--hostname-override",
        layout.node_name,
        # pods reach the gateway, so hostNetwork pods' IP (the node's) is reachable by all
        "--node-ip",
        layout.gateway,
        "--v",
        "2",
    ]
    return Daemon("kubelet", argv, pidfile=layout.root / "kubelet.pid", log=layout.logs / "kubelet.log")


# --- teardown ------------------------------------------------------------------------------


def kill_containers(layout: NodeLayout) -> int:
    """Every container runc runs for our containerd, and the shims that watch them: what
    `down` must end even when containerd or the kubelet died without stopping their pods."""
    killed = 0
    if layout.runc_root.is_dir():
        for namespace in layout.runc_root.iterdir():
            ids = subprocess.run(
                [RUNC, "--root", str(namespace), "list", "-q"],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            ).stdout.split()
            for container in ids:
                subprocess.run(
                    [RUNC, "--root", str(namespace), "delete", "--force", container],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                killed += 1
    socket = str(layout.containerd_socket).encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if cmdline and cmdline[0].endswith(b"containerd-shim-runc-v2") and socket in cmdline:
            os.kill(int(proc.name), signal.SIGKILL)
    return killed


def unmount_all(root: Path) -> None:
    """Whatever containerd (rootfs, shm, network namespaces) and the kubelet (volumes) mounted
    below root, deepest first."""
    prefix = str(root.resolve()) + "/"
    for _ in range(5):
        mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
        ours = sorted({m for m in mounts if m.startswith(prefix)}, key=len, reverse=True)
        if not ours:
            return
        for mountpoint in ours:
            subprocess.run(["umount", "--lazy", mountpoint], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def remove_pod_cgroups() -> None:
    """The kubelet's kubepods hierarchy (runc already removed its containers' cgroups)."""
    for controller in Path("/sys/fs/cgroup").iterdir():
        top = controller / "kubepods"
        if not top.is_dir():
            continue
        for directory in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                directory.rmdir()
        with contextlib.suppress(OSError):
            top.rmdir()
