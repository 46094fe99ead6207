"""Helm, built from its Go module by tests/cluster/build.sh, for the chart's tests."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.support.image import ballast_image
from tests.support.kube import REPO, cache_dir, open_audit_root_to_every_user, shared_store_dir
from tests.support.operator_process import TEST_SETTINGS

CHART = REPO / "charts" / "ballast"


def helm_binary() -> str:
    """The helm build.sh made (building it, and the cluster's binaries, when missing)."""
    built = cache_dir() / "bin" / "current" / "helm"
    if not built.exists():
        subprocess.run(["bash", str(REPO / "tests" / "cluster" / "build.sh")], check=True, stdout=subprocess.DEVNULL)
    return str(built)


def helm(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    result = subprocess.run([helm_binary(), *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result


def set_args(values: dict[str, str] | None) -> list[str]:
    """--set-json flags, one per dotted key, so values keep their JSON types."""
    return [arg for key, value in (values or {}).items() for arg in ("--set-json", f"{key}={json.dumps(value)}")]


def template(
    values: dict | None = None, *, release: str = "ballast", namespace: str = "ballast-system", check: bool = True
) -> subprocess.CompletedProcess:
    return helm("template", release, str(CHART), "--namespace", namespace, *set_args(values), check=check)


def rendered(values: dict | None = None, **kwargs) -> list[dict]:
    """The chart's objects as `helm template` renders them."""
    return [doc for doc in yaml.safe_load_all(template(values, **kwargs).stdout) if doc]


def find(objects: list[dict], kind: str, name: str | None = None) -> list[dict]:
    return [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


# --- installing the chart into a cluster ---------------------------------------------------------

# The timings the tests' operator process runs with (operator_process.TEST_SETTINGS), as values.
_TIMING_VALUES = {
    "BALLAST_POLL_INTERVAL_SECONDS": "timing.pollIntervalSeconds",
    "BALLAST_REFRESH_CHECK_SECONDS": "timing.refreshCheckSeconds",
    "BALLAST_VERIFY_INTERVAL_SECONDS": "timing.verifyIntervalSeconds",
    "BALLAST_DATASET_WAIT_SECONDS": "timing.datasetWaitSeconds",
    "BALLAST_SUPERSEDED_GRACE_SECONDS": "timing.supersededGraceSeconds",
}


def image_values(reference: str | None) -> dict:
    """image.* values for an image reference (`repo:tag` or `repo@sha256:...`); none for None."""
    if not reference:
        return {}
    if "@" in reference:
        repository, digest = reference.split("@", 1)
        return {"image.repository": repository, "image.digest": digest}
    slash, colon = reference.rfind("/"), reference.rfind(":")
    if colon > slash:
        return {"image.repository": reference[:colon], "image.tag": reference[colon + 1 :]}
    return {"image.repository": reference}


def cluster_values(watched: list[str], image: str | None = None) -> dict:
    """Values for Ballast on the test cluster, watching only `watched`: the artifact store on
    the `ballast-shared` class (every claim is the same directory, on the local cluster as in
    the kind workflow), the tests' quick timings, and Ballast's image by digest
    (`image`, else tests/support/image.py's: built here and pushed to the local registry, or
    $BALLAST_IMAGE)."""
    values = {
        "watch.namespaces": list(watched),
        "store.uri": TEST_SETTINGS["BALLAST_STORE_URI"],
        "store.claim.storageClassName": TEST_SETTINGS["BALLAST_STORE_STORAGE_CLASS"],
        "image.pullPolicy": "IfNotPresent",
        "egress.allow": TEST_SETTINGS["BALLAST_EGRESS_ALLOW"].split(","),
        **{key: float(TEST_SETTINGS[env]) for env, key in _TIMING_VALUES.items()},
    }
    return values | image_values(image or ballast_image())


@dataclass(frozen=True)
class Release:
    """One Helm release of charts/ballast in a cluster."""

    name: str
    namespace: str
    kubeconfig: Path

    def helm(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        return helm(
            *args, "--namespace", self.namespace, "--kubeconfig", str(self.kubeconfig), check=check, timeout=timeout
        )

    def install(
        self,
        values: dict,
        *,
        take_ownership: bool = False,
        timeout: int = 180,
        chart: str = str(CHART),
        chart_args: tuple[str, ...] = (),
    ) -> None:
        """`helm install --wait` of `chart` (this repository's, or a reference such as
        oci://host/charts/ballast with chart_args like --version). take_ownership adopts objects
        that exist already but were not made by Helm, e.g. CRDs applied with kubectl (Helm 3.17+)."""
        open_audit_root_to_every_user(shared_store_dir())
        self.helm(
            "install",
            self.name,
            chart,
            *chart_args,
            *set_args(values),
            "--wait",
            f"--timeout={timeout}s",
            *(["--take-ownership"] if take_ownership else []),
            timeout=timeout + 30,
        )

    def upgrade(self, values: dict, *, timeout: int = 180) -> None:
        """`helm upgrade --wait` to exactly these values (not reusing the previous ones)."""
        self.helm(
            "upgrade", self.name, str(CHART), *set_args(values), "--wait", f"--timeout={timeout}s", timeout=timeout + 30
        )

    def uninstall(self, *, timeout: int = 120) -> list[tuple[str, str]]:
        """`helm uninstall --wait`; returns the (kind, name)s Helm kept for their resource policy."""
        result = self.helm("uninstall", self.name, "--wait", f"--timeout={timeout}s", timeout=timeout + 30)
        return re.findall(r"^\[(\w+)\] (\S+)$", result.stdout, re.M)

    def exists(self) -> bool:
        return self.helm("status", self.name, check=False).returncode == 0

    def status(self) -> dict:
        return json.loads(self.helm("status", self.name, "--output", "json").stdout)

    def objects(self) -> list[dict]:
        """The objects of the release's current revision, as Helm recorded them."""
        return [doc for doc in yaml.safe_load_all(self.helm("get", "manifest", self.name).stdout) if doc]
