"""The image registry the real node pulls from: the CNCF distribution registry on
127.0.0.1:5000 (BALLAST_REGISTRY=host:port to move it), plain HTTP, storage on disk under the
cache directory so pushed images and their digests survive restarts and `down`."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path

from supervise import Daemon, wait_until_answering, write_config

DEFAULT_ADDRESS = "127.0.0.1:5000"
MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, "
    "application/vnd.docker.distribution.manifest.v2+json"
)


def address() -> str:
    return os.environ.get("BALLAST_REGISTRY") or DEFAULT_ADDRESS


def _config(storage: Path) -> dict:
    return {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(storage)}, "delete": {"enabled": True}},
        "http": {"addr": address()},
    }


def prepare(cache: Path) -> bool:
    """Writes the registry's configuration; True when it changed, and the registry must restart."""
    state = cache / "registry"
    # the registry reads YAML, and JSON is YAML
    return write_config(state / "config.json", json.dumps(_config(state / "data"), indent=2))


def daemon(bin_dir: Path, cache: Path) -> Daemon:
    state = cache / "registry"
    config = state / "config.json"
    # without this, its OpenTelemetry SDK keeps trying to export traces to localhost:4318
    env = dict(os.environ, OTEL_TRACES_EXPORTER="none")
    return Daemon(
        "registry",
        [str(bin_dir / "registry"), "serve", str(config)],
        pidfile=state / "registry.pid",
        log=cache / "logs" / "registry.log",
        env=env,
    )


def wait_until_serving(registry: Daemon, pid: int) -> None:
    wait_until_answering(registry, pid, f"http://{address()}/v2/")


def manifest_digest(repository: str, reference: str) -> str | None:
    """The digest of a tag's manifest, or None when the registry lacks it."""
    request = urllib.request.Request(
        f"http://{address()}/v2/{repository}/manifests/{reference}", method="HEAD", headers={"Accept": MANIFEST_TYPES}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.headers["Docker-Content-Digest"]
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise
