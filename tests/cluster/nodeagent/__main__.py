"""`python -m nodeagent --kubeconfig ... --state-dir ...` (with tests/cluster on PYTHONPATH)."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import shutil
import signal
import sys
from pathlib import Path
from urllib.parse import urlparse

import yaml

from .agent import NodeAgent
from .commands import load_image_entrypoints
from .config import AgentConfig
from .iproute import IpCommandError
from .podnetwork import BridgeBusyError, PodNetworkLayout


def default_capacity(state_dir: Path) -> dict[str, str]:
    """Generous on purpose: every pod shares the whole host, and tests should not be refused
    for requests a real node of this size would also overcommit."""
    cpus = os.cpu_count() or 2
    memory_bytes = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    disk = shutil.disk_usage(state_dir if state_dir.exists() else "/")
    return {"cpu": str(max(cpus * 8, 16)), "memory": f"{memory_bytes // 2**20 * 2}Mi", "pods": "250",
            "ephemeral-storage": f"{disk.free // 2**30}Gi"}


def api_server_address(kubeconfig: Path) -> tuple[str, int]:
    """The kubeconfig's server URL; pods use its port at the pod network's gateway address."""
    document = yaml.safe_load(kubeconfig.read_text())
    context_name = document.get("current-context")
    context = next(c["context"] for c in document["contexts"] if c["name"] == context_name)
    cluster = next(c["cluster"] for c in document["clusters"] if c["name"] == context["cluster"])
    url = urlparse(cluster["server"])
    return url.hostname, url.port or 443


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="nodeagent", description=__doc__)
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--state-dir", type=Path, required=True, help="volumes and pod sandboxes")
    parser.add_argument("--log-dir", type=Path, help="container logs (default: STATE_DIR/../logs)")
    parser.add_argument("--node-name", default="ballast-node-0")
    parser.add_argument("--node-ip", default="127.0.0.1")
    parser.add_argument("--pod-cidr", default="10.244.0.0/16",
                        help="pod addresses; its first address is the gateway on --pod-bridge, and it must "
                             "not overlap any route or address the host already has")
    parser.add_argument("--pod-bridge", default="ballast0", help="the host bridge the pods' veths join")
    parser.add_argument("--image-entrypoints", type=Path, help="YAML/JSON map of image -> argv")
    parser.add_argument("--honor-run-as-user", action="store_true",
                        help="run containers as securityContext.runAsUser/runAsGroup when set (default: root)")
    parser.add_argument("--tls-cert-file", type=Path, help="serving certificate for `kubectl logs` (kubelet port)")
    parser.add_argument("--tls-private-key-file", type=Path)
    parser.add_argument("--kubelet-port", type=int, default=10250)
    parser.add_argument("--kubelet-version", default="v0.0.0-ballast-nodeagent",
                        help="what the Node reports as status.nodeInfo.kubeletVersion")
    parser.add_argument("--crashloop-base-seconds", type=float, default=10.0)
    parser.add_argument("--capacity", action="append", default=[], metavar="RESOURCE=QUANTITY",
                        help="override one node capacity entry, e.g. cpu=4")
    parser.add_argument("--verbose", action="store_true")
    return parser.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> AgentConfig:
    try:
        layout = PodNetworkLayout(args.pod_bridge, ipaddress.IPv4Network(args.pod_cidr))
    except ValueError as error:
        raise SystemExit(f"nodeagent: {error}")
    # The kubeconfig's host is the host's loopback, which is each pod's own `lo` inside its
    # namespace; the gateway is the host as pods see it (the API server listens there too).
    _host, port = api_server_address(args.kubeconfig)
    capacity = default_capacity(args.state_dir)
    capacity.update(dict(item.split("=", 1) for item in args.capacity))
    interpreter_bin = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")
    if interpreter_bin not in path.split(":"):
        path = f"{interpreter_bin}:{path}"  # pods find the agent's virtualenv first
    return AgentConfig(
        node_name=args.node_name, kubeconfig=args.kubeconfig.resolve(), state_dir=args.state_dir.resolve(),
        log_dir=(args.log_dir or args.state_dir.parent / "logs").resolve(), node_ip=args.node_ip,
        pod_cidr=layout.cidr, pod_bridge=layout.bridge, api_server_host=layout.gateway, api_server_port=port,
        capacity=capacity, image_entrypoints=load_image_entrypoints(args.image_entrypoints),
        honor_run_as_user=args.honor_run_as_user, kubelet_port=args.kubelet_port,
        tls_cert_file=args.tls_cert_file, tls_key_file=args.tls_private_key_file,
        kubelet_version=args.kubelet_version, crashloop_base_seconds=args.crashloop_base_seconds,
        process_path=path)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if os.geteuid() != 0:
        raise SystemExit("the node agent must run as root: it gives pods mount and network namespaces and cgroups")
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s")
    logging.getLogger("kubernetes").setLevel(logging.WARNING)
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    try:
        agent = NodeAgent(config_from_args(args))
    except (BridgeBusyError, IpCommandError) as error:  # no pod could run without the bridge
        raise SystemExit(f"nodeagent: cannot set up the pod network: {error}")
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: agent.stop())
    agent.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
