"""Helm, built from its Go module by tests/cluster/build.sh, for the chart's tests."""

from __future__ import annotations

import json
import subprocess

import yaml

from tests.support.kube import REPO, cache_dir

CHART = REPO / "charts" / "ballast"


def helm_binary() -> str:
    """The helm build.sh made (building it, and the cluster's binaries, when missing)."""
    built = cache_dir() / "bin" / "current" / "helm"
    if not built.exists():
        subprocess.run(["bash", str(REPO / "tests" / "cluster" / "build.sh")], check=True,
                       stdout=subprocess.DEVNULL)
    return str(built)


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([helm_binary(), *args], capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result


def set_args(values: dict[str, str] | None) -> list[str]:
    """--set-json flags, one per dotted key, so values keep their JSON types."""
    return [arg for key, value in (values or {}).items() for arg in ("--set-json", f"{key}={json.dumps(value)}")]


def template(values: dict | None = None, *, release: str = "ballast", namespace: str = "ballast-system",
             check: bool = True) -> subprocess.CompletedProcess:
    return helm("template", release, str(CHART), "--namespace", namespace, *set_args(values), check=check)


def rendered(values: dict | None = None, **kwargs) -> list[dict]:
    """The chart's objects as `helm template` renders them."""
    return [doc for doc in yaml.safe_load_all(template(values, **kwargs).stdout) if doc]


def find(objects: list[dict], kind: str, name: str | None = None) -> list[dict]:
    return [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
