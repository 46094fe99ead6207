"""A real Prometheus for tests, scraping targets given by address or found in the cluster.

tests/prometheus/build.sh builds it from the Go module proxy and caches it; this starts it on
127.0.0.1 and waits for scrapes. Its one scrape job either lists static targets, each with the
labels Kubernetes discovery would give its pod (namespace, pod, container), or discovers the
serving pods of a namespace through the API server, relabelled as a PodMonitor would. Nothing
is skipped: if it cannot be built or started, the test fails and says why.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.kube import REPO
from tests.support.net import free_port, wait_until_answering

BUILD_SCRIPT = REPO / "tests" / "prometheus" / "build.sh"
JOB = "ballast-serving"


@dataclass(frozen=True)
class PrometheusServer:
    url: str
    log_path: Path

    def api(self, path: str, **params: str) -> Any:
        """The `data` of a successful API answer (AssertionError otherwise)."""
        with urllib.request.urlopen(f"{self.url}{path}?{urllib.parse.urlencode(params)}", timeout=10) as response:
            answer = json.load(response)
        assert answer["status"] == "success", answer
        return answer["data"]

    def wait_for_scrapes_after(self, instant: float, targets: int, timeout: float = 30.0) -> None:
        """Until every target has a scrape stamped after `instant`: then every sample up to
        `instant` is in the database."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.api("/api/v1/query", query=f'timestamp(up{{job="{JOB}"}} == 1)')["result"]
            stamps = [float(element["value"][1]) for element in result]
            if len(stamps) == targets and min(stamps) > instant:
                return
            if time.monotonic() > deadline:
                pytest.fail(
                    f"Prometheus has not scraped {targets} targets after {instant} within {timeout} s "
                    f"(last scrapes: {stamps}):\n{self.log_path.read_text()[-3000:]}",
                    pytrace=False,
                )
            time.sleep(0.2)


def build_prometheus() -> Path:
    completed = subprocess.run(["bash", str(BUILD_SCRIPT)], capture_output=True, text=True, timeout=1800)
    if completed.returncode != 0:
        pytest.fail(
            f"could not build Prometheus with {BUILD_SCRIPT} (needs Go and the Go module proxy):\n"
            f"{completed.stderr[-3000:]}",
            pytrace=False,
        )
    return Path(completed.stdout.strip().splitlines()[-1])


def scrape_config(targets: Mapping[str, Mapping[str, str]], interval: str) -> dict[str, Any]:
    """One job scraping each address, with that target's labels."""
    return {
        "global": {"scrape_interval": interval, "scrape_timeout": interval, "evaluation_interval": interval},
        "scrape_configs": [
            {
                "job_name": JOB,
                "metrics_path": "/metrics",
                "static_configs": [
                    {"targets": [address], "labels": dict(labels)} for address, labels in targets.items()
                ],
            }
        ],
    }


def serving_pods_config(kubeconfig: Path, namespace: str, interval: str) -> dict[str, Any]:
    """One job discovering the pods of `namespace` (role pod, through the API server that
    `kubeconfig` names) and scraping each Ballast serving pod's `http` port, with the target
    labels the Prometheus Operator gives a PodMonitor's targets: namespace, pod, container.
    Like it, pods that have finished are dropped."""
    meta = "__meta_kubernetes_"
    return {
        "global": {"scrape_interval": interval, "scrape_timeout": interval, "evaluation_interval": interval},
        "scrape_configs": [
            {
                "job_name": JOB,
                "metrics_path": "/metrics",
                "kubernetes_sd_configs": [
                    {"role": "pod", "kubeconfig_file": str(kubeconfig), "namespaces": {"names": [namespace]}}
                ],
                "relabel_configs": [
                    {
                        "action": "keep",
                        "regex": "ballast;serving",
                        "source_labels": [
                            f"{meta}pod_label_app_kubernetes_io_name",
                            f"{meta}pod_label_app_kubernetes_io_component",
                        ],
                    },
                    {"action": "keep", "regex": "http", "source_labels": [f"{meta}pod_container_port_name"]},
                    {"action": "drop", "regex": "Failed|Succeeded", "source_labels": [f"{meta}pod_phase"]},
                    {"source_labels": [f"{meta}namespace"], "target_label": "namespace"},
                    {"source_labels": [f"{meta}pod_name"], "target_label": "pod"},
                    {"source_labels": [f"{meta}pod_container_name"], "target_label": "container"},
                ],
            }
        ],
    }


@contextmanager
def running_prometheus(
    workdir: Path,
    targets: Mapping[str, Mapping[str, str]] | None = None,
    interval: str = "1s",
    *,
    config: Mapping[str, Any] | None = None,
) -> Iterator[PrometheusServer]:
    """Prometheus scraping `targets` (see scrape_config), or with a whole `config`."""
    if (targets is None) == (config is None):
        raise ValueError("give either targets or a config")
    binary = build_prometheus()
    workdir.mkdir(parents=True, exist_ok=True)
    config_path, log_path, port = workdir / "prometheus.yml", workdir / "prometheus.log", free_port()
    config_path.write_text(yaml.safe_dump(dict(config) if config is not None else scrape_config(targets, interval)))
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                str(binary),
                f"--config.file={config_path}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
        )
    server = PrometheusServer(url=f"http://127.0.0.1:{port}", log_path=log_path)
    try:
        wait_until_answering(process, f"{server.url}/-/ready", log_path, "Prometheus", 60)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
