"""The README's first command: Ballast on a real local cluster, from nothing.

Brings up the local cluster (building its binaries on the first run), installs the CRDs,
starts the operator, applies examples/ into the `ballast-demo` namespace, waits for the
operator to acknowledge every object, and shows `kubectl get ballast`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "cluster")]

import localcluster  # noqa: E402

from tests.support.kube import Kubectl, kubectl_binary, wait_for  # noqa: E402

NAMESPACE = "ballast-demo"
CACHE = Path(os.environ.get("BALLAST_CACHE_DIR", Path.home() / ".cache" / "ballast"))
OPERATOR_PID = CACHE / "demo" / "operator.pid"
OPERATOR_LOG = CACHE / "demo" / "operator.log"


def step(message: str) -> None:
    print(f"\n==> {message}", flush=True)


def stop_operator() -> None:
    if not OPERATOR_PID.exists():
        return
    try:
        os.killpg(int(OPERATOR_PID.read_text()), signal.SIGTERM)
        time.sleep(1)
    except (ProcessLookupError, ValueError):
        pass
    OPERATOR_PID.unlink(missing_ok=True)


def restart_operator(kubeconfig: Path) -> None:
    """One operator for the demo, run from this checkout; an earlier one is stopped first."""
    OPERATOR_PID.parent.mkdir(parents=True, exist_ok=True)
    stop_operator()
    ballast = Path(sys.executable).parent / "ballast"
    process = subprocess.Popen(
        [str(ballast), "operator", "--bind-address", "127.0.0.1", "--health-port", "18080",
         "--metrics-port", "19090"],
        env={**os.environ, "KUBECONFIG": str(kubeconfig)},
        stdout=OPERATOR_LOG.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    OPERATOR_PID.write_text(str(process.pid))


def all_acknowledged(kubectl: Kubectl) -> bool:
    items = kubectl.get_json("ballast")["items"]
    return bool(items) and all(
        item.get("status", {}).get("observedGeneration") == item["metadata"]["generation"] for item in items
    )


def main() -> int:
    if sys.argv[1:] == ["--stop"]:
        stop_operator()
        return 0
    started = time.monotonic()
    step("Local cluster (the first run builds kube-apiserver, etcd, kubectl and kwok from Go modules)")
    kubeconfig = Path(localcluster.up())
    kubectl = Kubectl(kubeconfig)
    print(f"kubeconfig: {kubeconfig}")

    step("Ballast's CRDs")
    kubectl.run("apply", "--server-side", "--force-conflicts", "--field-manager=ballast", "-f", str(REPO / "crds"))
    kubectl.run("wait", "--for=condition=Established", "--timeout=60s", "-f", str(REPO / "crds"))

    step(f"The operator (log: {OPERATOR_LOG})")
    restart_operator(kubeconfig)

    step(f"examples/ into namespace {NAMESPACE}")
    kubectl.run("create", "namespace", NAMESPACE, check=False)
    demo = kubectl.in_namespace(NAMESPACE)
    print(demo.run("apply", "--server-side", "--field-manager=ballast-demo", "-f", str(REPO / "examples")).stdout)
    wait_for(lambda: all_acknowledged(demo), timeout=60, message="the operator to acknowledge every object")

    step("kubectl get ballast")
    print(demo.run("get", "ballast").stdout)
    print(f"Done in {time.monotonic() - started:.0f}s. Next:")
    print(f"  export KUBECONFIG={kubeconfig}")
    print(f"  {kubectl_binary()} get ballast -n {NAMESPACE}")
    print(f"  {kubectl_binary()} describe dataset credit -n {NAMESPACE}   # conditions and Events")
    print("  make cluster-down                                             # stop everything")
    return 0


if __name__ == "__main__":
    sys.exit(main())
