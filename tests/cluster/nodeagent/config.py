"""The agent's settings, gathered once at start-up and passed around read-only."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class AgentConfig:
    node_name: str
    kubeconfig: Path
    state_dir: Path  # volumes, pod sandboxes, provisioned PVs
    log_dir: Path  # container logs, readable by people
    node_ip: str
    pod_cidr: ipaddress.IPv4Network
    api_server_host: str  # what pods get as KUBERNETES_SERVICE_HOST: the pod network's gateway
    api_server_port: int
    capacity: dict[str, str]
    image_entrypoints: dict[str, list[str]]
    pod_bridge: str = "ballast0"
    honor_run_as_user: bool = False
    kubelet_port: int = 10250  # where the log server listens, when it has a certificate
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    kubelet_version: str = "v0.0.0-ballast-nodeagent"
    # kubelet's defaults: 10s doubling up to 5 minutes, reset after 10 minutes of running
    crashloop_base_seconds: float = 10.0
    crashloop_max_seconds: float = 300.0
    heartbeat_seconds: float = 10.0
    lease_duration_seconds: int = 40
    storage_class: str = "ballast-local"
    provisioner_name: str = "nodeagent.ballast.dev/hostpath"
    process_path: str = dataclasses.field(default_factory=lambda: os.environ.get("PATH", "/usr/bin:/bin"))

    @property
    def pod_ips_file(self) -> Path:
        return self.state_dir / "pod-ips.json"

    @property
    def pods_dir(self) -> Path:
        return self.state_dir / "pods"

    @property
    def volumes_dir(self) -> Path:
        return self.state_dir / "volumes"
