"""The README's first command: Ballast on a real local cluster, from nothing.

Brings up the local cluster (building its binaries on the first run), installs the CRDs,
starts the operator, applies examples/ into the `ballast-demo` namespace, and follows the
objects until the data is versioned, the model trained, registered and serving; then shows
`kubectl get ballast`, the run comparison, the model's lineage and one inference.
"""

from __future__ import annotations

import json
import os
import signal
import urllib.request
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "cluster")]

import localcluster  # noqa: E402

from tests.support.kube import (  # noqa: E402
    Kubectl, cache_dir, install_crds, kubectl_binary, shared_store_dir, wait_for,
)
from tests.support.operator_process import TEST_SETTINGS, OperatorProcess  # noqa: E402

NAMESPACE = "ballast-demo"
OPERATOR_PID = cache_dir() / "demo" / "operator.pid"
OPERATOR_LOG = cache_dir() / "demo" / "operator.log"
BALLAST = str(Path(sys.executable).parent / "ballast")


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
    """One operator for the demo, run from this checkout with the local cluster's shared
    artifact store at /var/lib/ballast; an earlier one is stopped first. It keeps running
    after the demo so you can go on exploring."""
    OPERATOR_PID.parent.mkdir(parents=True, exist_ok=True)
    stop_operator()
    operator = OperatorProcess(kubeconfig, OPERATOR_LOG, store_dir=shared_store_dir(), namespaces=(NAMESPACE,))
    process = subprocess.Popen(
        operator.command(), env={**os.environ, **TEST_SETTINGS, "KUBECONFIG": str(kubeconfig)},
        stdout=OPERATOR_LOG.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    OPERATOR_PID.write_text(str(process.pid))


def external_model() -> tuple[str, str]:
    """A model trained outside Ballast (here: right now, in this process), written into the
    artifact store the way a person would copy one there. Returns its uri and sha256."""
    from sklearn.linear_model import LogisticRegression

    from ballast.models import serialize_model

    model = serialize_model(LogisticRegression().fit([[20.0, 15.0], [80.0, 5.0], [30.0, 25.0], [60.0, 10.0]],
                                                     [1, 0, 1, 0]))
    relative = f"models/credit-risk-external/{model.sha256}/model.skops"
    path = shared_store_dir() / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_bytes(model.data)
    return f"file:///var/lib/ballast/{relative}", model.sha256


def examples(uri: str, sha256: str) -> list[dict]:
    documents = [doc for path in sorted((REPO / "examples").glob("*.yaml"))
                 for doc in yaml.safe_load_all(path.read_text()) if doc]
    for document in documents:
        if document["kind"] == "ModelVersion":
            document["spec"]["artifact"].update(uri=uri, sha256=sha256)
    return documents


def summary_line(item: dict) -> str:
    status = item.get("status") or {}
    ready = next((c for c in status.get("conditions") or [] if c["type"] == "Ready"), {})
    stage = f" stage={status['stage']}" if status.get("stage") else ""
    return f"{item['kind']}/{item['metadata']['name']}: Ready={ready.get('status', '-')} {ready.get('reason', '')}{stage}"


def infer_once(demo: Kubectl) -> tuple[str, dict]:
    """One Open Inference Protocol request to a ready serving pod of credit-risk, at the
    address the EndpointSlice controller published (as kube-proxy would route it)."""
    slices = demo.get_json("endpointslices", "-l", "kubernetes.io/service-name=credit-risk")["items"]
    address = next(f"{e['addresses'][0]}:{p['port']}" for s in slices for e in s.get("endpoints") or []
                   if e["conditions"].get("ready") for p in s.get("ports") or [])
    body = {"id": "demo", "inputs": [
        {"name": "income", "shape": [2], "datatype": "FP64", "data": [25.0, 80.0]},
        {"name": "debt", "shape": [2], "datatype": "FP64", "data": [30.0, 5.0]},
        {"name": "region", "shape": [2], "datatype": "BYTES", "data": ["east", "north"]}]}
    request = urllib.request.Request(f"http://{address}/v2/models/credit-risk/infer",
                                     data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return address, json.loads(response.read())


def settled(kubectl: Kubectl, seen: set[str]) -> bool:
    """True once the data is versioned and every run finished; prints each change on the way."""
    items = kubectl.get_json("ballast")["items"]
    for item in items:
        line = summary_line(item)
        if line not in seen and "Ready=-" not in line:
            seen.add(line)
            print(f"  {line}", flush=True)
    conditions = lambda item: {c["type"]: c["status"] for c in (item.get("status") or {}).get("conditions") or []}
    runs_done = all(conditions(i).get("Succeeded") in ("True", "False") for i in items if i["kind"] == "TrainingRun")
    versions = [i for i in items if i["kind"] == "ModelVersion"]
    versions_known = all(conditions(i).get("Ready") in ("True", "False") for i in versions)
    serving = any((i.get("status") or {}).get("stage") == "Production" for i in versions)
    return bool(items) and runs_done and versions_known and len(versions) >= 2 and serving


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
    install_crds(kubectl)

    step(f"The operator (log: {OPERATOR_LOG})")
    restart_operator(kubeconfig)

    step(f"examples/ into namespace {NAMESPACE}, and an externally trained model into the artifact store")
    kubectl.run("create", "namespace", NAMESPACE, check=False)
    demo = kubectl.in_namespace(NAMESPACE)
    for document in examples(*external_model()):
        print("  " + demo.apply(document).stdout.strip())

    step("Following the objects: ingest Job, training Job, registry (progress as it happens)")
    seen: set[str] = set()
    wait_for(lambda: settled(demo, seen), timeout=300, interval=1, message="the demo objects to settle")

    step("kubectl get ballast")
    print(demo.run("get", "ballast").stdout)
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    step("ballast runs credit-risk")
    print(subprocess.run([BALLAST, "runs", "credit-risk", "-n", NAMESPACE], env=env, capture_output=True,
                         text=True).stdout)
    produced = demo.get_json("trainingrun", "credit-forest-1").get("status", {}).get("modelVersion")
    if produced:
        step(f"ballast lineage {produced}")
        print(subprocess.run([BALLAST, "lineage", produced, "-n", NAMESPACE], env=env, capture_output=True,
                             text=True).stdout)

    step("An inference request to the model in Production (Open Inference Protocol)")
    address, answer = wait_for(lambda: infer_once(demo), timeout=60, message="a ready serving endpoint")
    predicted = next(o for o in answer["outputs"] if o["name"] == "predict")["data"]
    print(f"  POST http://{address}/v2/models/credit-risk/infer  (income 25, debt 30, east) and (80, 5, north)")
    print(f"  -> defaulted = {predicted}   (model {answer['model_name']}, version {answer['model_version']})")

    print(f"Done in {time.monotonic() - started:.0f}s. Next:")
    print(f"  export KUBECONFIG={kubeconfig}")
    print(f"  {kubectl_binary()} get ballast -n {NAMESPACE}")
    print(f"  {kubectl_binary()} describe trainingrun credit-forest-1 -n {NAMESPACE}   # conditions and Events")
    if produced:
        print(f"  {BALLAST} reproduce {produced} -n {NAMESPACE}   # train again, compare the sha256")
    print(f"  curl -s http://{address}/metrics | grep ^ballast_          # the counters drift detection reads")
    print("  make cluster-down                                        # stop everything")
    return 0


if __name__ == "__main__":
    sys.exit(main())
