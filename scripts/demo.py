"""The README's first command: Ballast's whole lifecycle on a real cluster, from nothing.

    make demo                                   # the local cluster (built on the first run)
    make demo CLUSTER=kind                      # kind, on a node image built here
    KUBECONFIG=~/.kube/config BALLAST_IMAGE=registry.example/ballast:0.1.0 make demo   # any cluster

1. Brings up the local cluster (or uses the one KUBECONFIG names) and installs Ballast with its
   Helm chart: the operator runs as a pod, watching the `ballast-demo` namespace.
2. A Dataset is versioned and validated; a model is trained, registered and served.
3. Traffic like the training data flows; a DriftPolicy judges it every few seconds and stays calm.
4. The world shifts: traffic moves, and the new labelled data lands as the Dataset's next
   version. The policy fires, retrains on the new version, the new model must beat the
   champion on it, passes its canary and is promoted; the same traffic no longer drifts.
5. A summary table, and what to run next.

On another cluster the demo needs BALLAST_IMAGE (an image built from operator/Dockerfile that
the cluster can pull), a ReadWriteMany StorageClass for the artifact store
(BALLAST_STORE_STORAGE_CLASS), and a route from this machine to the pod network (traffic goes to
the pods' addresses, as kube-proxy would send it).
"""

from __future__ import annotations

import os
import random
import signal
import sys
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "cluster")]

from tests.support import shifting  # noqa: E402
from tests.support.helm import Release, cluster_values  # noqa: E402
from tests.support.image import ballast_image  # noqa: E402
from tests.support.kube import Kubectl, cache_dir, kubectl_binary, on_kind, wait_for  # noqa: E402
from tests.support.traffic import Traffic, infer, ready_endpoints  # noqa: E402

from ballast.client import Client, ModelVersion, Stage  # noqa: E402
from ballast.conditions import find_condition  # noqa: E402
from ballast.reconcile.durations import parse_time  # noqa: E402

NAMESPACE = "ballast-demo"
RELEASE_NAMESPACE = "ballast-system"
POLICY = f"{shifting.MODEL}-drift"
CANARY = {"strategy": "Canary", "steps": [50], "analysisInterval": "8s"}
BALLAST = str(Path(sys.executable).parent / "ballast")
LEGACY_OPERATOR_PID = cache_dir() / "demo" / "operator.pid"


def step(message: str) -> None:
    print(f"\n==> {message}", flush=True)


class Progress:
    """Prints each new state line once, so waiting shows what is happening."""

    def __init__(self, k: Kubectl):
        self.k, self.seen = k, set()

    def show(self) -> None:
        for item in self.k.get_json("ballast")["items"]:
            line = describe(item)
            if line and line not in self.seen:
                self.seen.add(line)
                print(f"  {datetime.now():%H:%M:%S}  {line}", flush=True)


def describe(item: dict) -> str:
    status = item.get("status") or {}
    conditions = {c["type"]: c for c in status.get("conditions") or []}
    ready = conditions.get("Ready") or {}
    name = f"{item['kind']}/{item['metadata']['name']}"
    if item["kind"] == "DriftPolicy":
        drifting = conditions.get("Drifting") or {}
        firing = (status.get("firings") or [{}])[0]
        retrain = f", retraining: {firing['outcome']}" if firing.get("outcome") else ""
        return (
            f"{name}: watching {status.get('modelVersion', '-')}, Drifting={drifting.get('status', '-')} "
            f"({drifting.get('reason', '-')}){retrain}"
        )
    if item["kind"] == "ModelVersion":
        return (
            f"{name}: stage {status.get('stage', '-')}, traffic {status.get('trafficPercent', 0)}%, "
            f"Ready={ready.get('status', '-')} {ready.get('reason', '')}"
        )
    if item["kind"] == "TrainingRun":
        succeeded = conditions.get("Succeeded") or {}
        return f"{name}: Succeeded={succeeded.get('status', '-')} {succeeded.get('reason', '')}"
    versions = len(status.get("versions") or [])
    return f"{name}: {versions} version(s), Ready={ready.get('status', '-')} {ready.get('reason', '')}"


def wait(progress: Progress, check, timeout: float, message: str):
    def checked():
        progress.show()
        return check()

    return wait_for(checked, timeout=timeout, interval=1, message=message)


def stop_legacy_operator() -> None:
    """Earlier demos ran the operator as a host process; now the Helm release runs it."""
    if LEGACY_OPERATOR_PID.exists():
        try:
            os.killpg(int(LEGACY_OPERATOR_PID.read_text()), signal.SIGTERM)
        except (ProcessLookupError, ValueError, PermissionError):
            pass
        LEGACY_OPERATOR_PID.unlink(missing_ok=True)


def install(kubeconfig: Path, kubectl: Kubectl, external: bool) -> Release:
    stop_legacy_operator()
    for namespace in (RELEASE_NAMESPACE, NAMESPACE):
        kubectl.run("create", "namespace", namespace, check=False)
        # every pod of the demo, the operator's and those it creates, is admitted as "restricted"
        kubectl.run("label", "--overwrite", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    values = cluster_values([NAMESPACE])
    if external:
        if os.environ.get("BALLAST_STORE_STORAGE_CLASS"):
            values["store.claim.storageClassName"] = os.environ["BALLAST_STORE_STORAGE_CLASS"]
    release = Release("ballast", RELEASE_NAMESPACE, kubeconfig)
    # --take-ownership: the CRDs may exist already (applied by the tests with kubectl); the chart adopts them.
    release.helm(
        "upgrade",
        "--install",
        release.name,
        str(REPO / "charts" / "ballast"),
        *[arg for key, value in values.items() for arg in ("--set-json", f"{key}={_json(value)}")],
        "--take-ownership",
        "--wait",
        "--timeout=300s",
        timeout=330,
    )
    return release


def _json(value) -> str:
    import json

    return json.dumps(value)


def production(client: Client) -> ModelVersion | None:
    return next((v for v in client.list(ModelVersion) if v.status and v.status.stage == Stage.PRODUCTION), None)


def policy_status(k: Kubectl) -> dict:
    return k.get_json("driftpolicy", POLICY).get("status") or {}


def evaluations(k: Kubectl, progress: Progress, version: str, count: int) -> list[dict]:
    seen: dict[str, dict] = {}

    def enough():
        status = policy_status(k)
        if status.get("modelVersion") == version and status.get("checks") and status.get("lastEvaluationTime"):
            if status["lastEvaluationTime"] not in seen:
                seen[status["lastEvaluationTime"]] = status
                score = status.get("score")
                print(
                    f"  {datetime.now():%H:%M:%S}  evaluation of {version}: {status['verdict']}, "
                    f"{status.get('samples', 0)} rows, largest PSI {score if score is None else round(score, 3)}",
                    flush=True,
                )
        return len(seen) >= count

    wait(progress, enough, timeout=120, message=f"{count} evaluations of {version}")
    return list(seen.values())


def table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths)) for row in rows)


def main(argv: list[str]) -> int:
    if argv == ["--stop"]:
        # `make cluster-down`: the Helm release's operator is a pod, which deleting the cluster
        # stops; only an operator that an earlier demo ran as a host process is left to stop
        stop_legacy_operator()
        return 0
    if argv:
        print(f"usage: {sys.argv[0]} [--stop]", file=sys.stderr)
        return 2
    started = time.monotonic()
    external = bool(os.environ.get("KUBECONFIG"))
    if external and not os.environ.get("BALLAST_IMAGE"):
        print(
            "On a cluster that KUBECONFIG names, set BALLAST_IMAGE to an image built from operator/Dockerfile "
            "that the cluster can pull (docs/image.md).",
            file=sys.stderr,
        )
        return 2
    if external:
        kubeconfig = Path(os.environ["KUBECONFIG"])
        step(f"The cluster KUBECONFIG names ({kubeconfig})")
    elif on_kind():
        step(
            "kind (podman provider) on a node image built here from the same Kubernetes binaries "
            "(the first run builds them)"
        )
        from tests.kind import kindcluster

        kubeconfig = kindcluster.up()
    else:
        step(
            "Local cluster: a control plane and a real node (kubelet, containerd), their registry "
            "(the first run builds them from Go modules)"
        )
        import localcluster

        kubeconfig = Path(localcluster.up())
    step(
        "Ballast's image: $BALLAST_IMAGE"
        if external
        else "Ballast's image: built from operator/Dockerfile here, named by digest (the first build takes minutes)"
    )
    print(f"  {ballast_image()}")
    kubectl = Kubectl(kubeconfig)

    step(f"Ballast with its Helm chart: release `ballast` in {RELEASE_NAMESPACE}, watching {NAMESPACE}")
    install(kubeconfig, kubectl, external)
    operator = kubectl.in_namespace(RELEASE_NAMESPACE).get_json("pods", "-l", "app.kubernetes.io/component=operator")[
        "items"
    ][0]
    print(f"  operator pod {operator['metadata']['name']}: {operator['status'].get('phase')}")

    k = kubectl.in_namespace(NAMESPACE)
    client = Client(NAMESPACE, kubeconfig=str(kubeconfig))
    for kind in ("driftpolicy", "trainingrun", "modelversion", "dataset"):  # a fresh start on a rerun
        k.run("delete", kind, "--all", "--wait=true", "--timeout=120s", check=False)
    progress = Progress(k)

    step("Data: a Dataset of 400 labelled rows, versioned by content and validated")
    k.apply(shifting.dataset(shifting.rows(400, shifted=False, seed=1)))
    wait(
        progress,
        lambda: (
            find_condition(k.get_json("dataset", shifting.MODEL).get("status", {}).get("conditions"), "Ready") or None
        ),
        timeout=180,
        message="the Dataset's first version",
    )

    step("Training: two candidates on the same version; the better is served")
    for name, estimator, params in (
        ("logistic", "sklearn.linear_model.LogisticRegression", {}),
        ("stump", "sklearn.tree.DecisionTreeClassifier", {"max_depth": 1}),
    ):
        spec = shifting.training_spec(estimator, params)
        if name == "stump":
            spec["evaluation"]["gates"] = {"mustBeatChampion": True}
        k.apply({"apiVersion": "ballast.dev/v1alpha1", "kind": "TrainingRun", "metadata": {"name": name}, "spec": spec})
        wait(
            progress,
            lambda: (
                (
                    find_condition(k.get_json("trainingrun", name).get("status", {}).get("conditions"), "Succeeded")
                    or {}
                ).get("status")
                in ("True", "False")
            ),
            timeout=300,
            message=f"TrainingRun {name}",
        )
        if name == "logistic":
            wait(progress, lambda: production(client), timeout=180, message="the first model in Production")
    print(subprocess_output([BALLAST, "runs", shifting.MODEL, "-n", NAMESPACE], kubeconfig))
    champion = production(client).name

    pools = {False: shifting.rows(2000, shifted=False, seed=11), True: shifting.rows(2000, shifted=True, seed=12)}
    world = {"shifted": False}
    traffic = Traffic(
        k,
        shifting.MODEL,
        shifting.MODEL,
        shifting.FEATURES,
        shifting.LABEL,
        rows=lambda: random.sample(pools[world["shifted"]], 5),
        pause=0.02,
    )
    with traffic:
        step("Traffic like the training data, judged by a DriftPolicy every 3 s (retrain on drift, canary, auto)")
        k.apply(shifting.drift_policy(shifting.training_spec(rollout=CANARY)))
        evaluations(k, progress, champion, count=3)

        step("The world shifts: traffic moves, and the new labelled data lands as the Dataset's next version")
        onset = time.monotonic()
        world["shifted"] = True
        k.apply(shifting.dataset(shifting.rows(400, shifted=True, seed=2)))
        wait(
            progress, lambda: (policy_status(k).get("firings") or [None])[0], timeout=120, message="the policy to fire"
        )
        fired_at = time.monotonic()
        at_firing = policy_status(k)  # the evaluation that fired is still the latest one
        promoted = wait(
            progress,
            lambda: (promoted := production(client)) is not None and promoted.name != champion and promoted,
            timeout=300,
            message="the retrained model in Production",
        )
        promoted_at = time.monotonic()
        challenger = promoted.name

        step(f"After the promotion: the same shifted traffic, judged against {challenger}'s own training data")
        after = evaluations(k, progress, challenger, count=3)
        answer = infer(
            random.choice(ready_endpoints(k, shifting.MODEL)), shifting.MODEL, shifting.FEATURES, pools[True][:2]
        )
    print(f"  traffic: {traffic.answered} requests, {traffic.rows_sent} rows, {len(traffic.failures)} failed")

    step("Summary")
    status = policy_status(k)
    firing = status["firings"][0]
    run = k.get_json("trainingrun", firing["trainingRun"]) if firing.get("trainingRun") else {}
    rows = [["version", "stage", "accuracy", "trained by", "dataset version"]]
    for version in sorted(client.list(ModelVersion), key=lambda v: v.metadata.creation_timestamp):
        status, source = version.status, version.spec.source
        rows.append(
            [
                version.name,
                str(status.stage) if status and status.stage else "-",
                f"{((status and status.metrics) or {}).get('accuracy', float('nan')):.3f}",
                (source and source.training_run) or "-",
                (source.dataset.version[:12] if source and source.dataset else "-"),
            ]
        )
    print(table(rows))
    print("\n  drift (PSI per feature; alert at 0.25)")
    print(
        table(
            [
                ["when", "version", "verdict", "x1", "x2"],
                [
                    "at the firing",
                    firing.get("modelVersion", "-"),
                    at_firing.get("verdict", "-"),
                    *[_feature_score(at_firing, f) for f in shifting.FEATURES],
                ],
                [
                    "after promotion",
                    challenger,
                    after[-1]["verdict"],
                    *[_feature_score(after[-1], f) for f in shifting.FEATURES],
                ],
            ]
        )
    )
    training = (
        (parse_time(run["status"]["completedAt"]) - parse_time(run["status"]["startedAt"])).total_seconds()
        if run.get("status", {}).get("completedAt")
        else float("nan")
    )
    print(
        f"\n  timings: drift onset -> firing {fired_at - onset:.1f} s; firing -> promotion "
        f"{promoted_at - fired_at:.1f} s, of which training {training:.1f} s"
    )
    print(
        f"  the model now answers x1={pools[True][0]['x1']}, x2={pools[True][0]['x2']} with "
        f"{next(o for o in answer['outputs'] if o['name'] == 'predict')['data'][0]} "
        f"(truth {pools[True][0]['label']}), version {answer['model_version']}"
    )

    print(f"\nDone in {time.monotonic() - started:.0f} s. Next:")
    print(f"  export KUBECONFIG={kubeconfig}")
    print(f"  {kubectl_binary()} get ballast -n {NAMESPACE}")
    print(f"  {kubectl_binary()} describe driftpolicy {POLICY} -n {NAMESPACE}   # checks, firings, Events")
    print(f"  {BALLAST} lineage {challenger} -n {NAMESPACE}      # data, code and parameters behind it")
    endpoints = ready_endpoints(k, shifting.MODEL)
    if endpoints:
        print(
            f"  curl -s http://{endpoints[0]}/v2/models/{shifting.MODEL}     # the endpoint (Open Inference Protocol)"
        )
        print(f"  curl -s http://{endpoints[0]}/metrics | grep ^ballast_feature  # what drift detection reads")
    print(
        "  Grafana: import charts/ballast/dashboards/ballast.json (or helm upgrade --set grafanaDashboard.enabled=true)"
    )
    if not external:
        print(f"  make {'kind-down' if on_kind() else 'cluster-down'}                          # stop everything")
    return 0


def _feature_score(status: dict, feature: str) -> str:
    found = next((f for f in status.get("features") or [] if f["name"] == feature), None)
    return f"{found['score']:.3f}" if found and found.get("score") is not None else "-"


def subprocess_output(command: list[str], kubeconfig: Path) -> str:
    import subprocess

    result = subprocess.run(
        command, env={**os.environ, "KUBECONFIG": str(kubeconfig)}, capture_output=True, text=True, timeout=120
    )
    return result.stdout + result.stderr


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
