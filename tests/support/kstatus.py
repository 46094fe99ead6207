"""kstatus itself (sigs.k8s.io/cli-utils/pkg/kstatus/status, what Flux, kpt and Config Sync wait
on), built from its Go module by tests/kstatus/build.sh, run on objects as the API server returns
them. Nothing is skipped: if it cannot be built, the test fails and says why."""

from __future__ import annotations

import json
import subprocess
from functools import cache
from pathlib import Path

from tests.support.kube import REPO, Kubectl

BUILD_SCRIPT = REPO / "tests" / "kstatus" / "build.sh"
BALLAST_RESOURCES = "datasets,trainingruns,modelversions,driftpolicies"


@cache
def kstatus_binary() -> Path:
    built = subprocess.run(["bash", str(BUILD_SCRIPT)], capture_output=True, text=True, timeout=900)
    assert built.returncode == 0, f"tests/kstatus/build.sh failed:\n{built.stderr[-3000:]}"
    return Path(built.stdout.strip().splitlines()[-1])


def kstatus(document: dict) -> dict[tuple[str, str], str]:
    """kstatus's status (Current, InProgress, Failed, ...) of each object in document (one object
    or a List), by (kind, name)."""
    ran = subprocess.run(
        [str(kstatus_binary())], input=json.dumps(document), capture_output=True, text=True, timeout=60
    )
    assert ran.returncode == 0, ran.stderr
    verdicts = [json.loads(line) for line in ran.stdout.splitlines()]
    return {(verdict["kind"], verdict["name"]): verdict["status"] for verdict in verdicts}


def live_kstatus(k: Kubectl) -> dict[tuple[str, str], str]:
    """kstatus of every Ballast object in k's namespace, as `kubectl get -o json` reads them."""
    return kstatus(k.get_json(BALLAST_RESOURCES))


def reconciling_and_stalled(status: dict) -> tuple[str, str]:
    """The statuses of the two conditions kstatus reads first: InProgress, Current (with Ready
    True) and Failed are (True, False), (False, False) and (False, True)."""
    found = {condition["type"]: condition["status"] for condition in status.get("conditions") or []}
    return found["Reconciling"], found["Stalled"]


def kstatus_after(body: dict, status_patch: dict) -> str:
    """kstatus of body once a reconcile's status (a merge patch of .status, as Outcome.status
    is) is written: what a Flux health check would read next."""
    status = {**(body.get("status") or {}), **status_patch}
    written = {**body, "status": {key: value for key, value in status.items() if value is not None}}
    [verdict] = kstatus(written).values()
    return verdict
