"""`helm install` of charts/ballast on the real cluster, end to end.

The operator runs as the chart's Deployment: a pod on the real node, from Ballast's image pulled
from the registry by digest, as uid 65532 on a read-only root filesystem, authenticated by
nothing but its ServiceAccount's token, in namespaced mode watching only the test's own
namespace (the session's operator process watches the other test namespaces; two operators on
one object would fight). It takes the example Dataset and TrainingRun through to a model in
Production answering inference requests; one run of the retention CronJob (as an administrator
tries it, `kubectl create job --from=cronjob/...`) is a dry run that finds both versions
referenced; `helm upgrade` replaces the operator and keeps every custom resource; `helm
uninstall` removes the operator and keeps the CRDs, the user's objects and the artifact store's
claim.

CRDs. The session has applied crds/ with kubectl already (the `crds` fixture), and the chart
templates the same CRDs (charts/ballast/README.md), so `helm install` must adopt them: this is
the chart README's documented path, `--take-ownership`. That makes the keep policy real here:
Helm owns the CRDs, and `helm uninstall` leaves them only because of `helm.sh/resource-policy:
keep`. A chart without it would delete them, and with them every Ballast object of every test
on the cluster, so the test checks the annotation in the rendered chart before it installs
anything, and afterwards gives the CRDs back as it found them.
"""

from __future__ import annotations

import json
import re
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml

from ballast.api.kinds import ALL_KINDS, GROUP
from tests.support.ballast_objects import condition, wait_for_condition, wait_for_stage
from tests.support.helm import Release, cluster_values, find, rendered
from tests.support.image import ballast_image, image_digest
from tests.support.kube import REPO, Kubectl, wait_for
from tests.support.operator_process import PROBLEM_LINE
from tests.support.traffic import ready_endpoints

CRD_NAMES = sorted(f"{kind.plural}.{GROUP}" for kind in ALL_KINDS)
EXAMPLES = REPO / "examples"
HELM_OWNERSHIP_ANNOTATIONS = ("meta.helm.sh/release-name", "meta.helm.sh/release-namespace", "helm.sh/resource-policy")
HELM_RELEASE_LABELS = (
    "helm.sh/chart",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
)
SERVICE_ACCOUNT_TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"


def example(name: str) -> dict:
    return yaml.safe_load((EXAMPLES / name).read_text())


def crd_metadata(kubectl: Kubectl) -> dict[str, dict]:
    return {name: kubectl.get_json("crd", name)["metadata"] for name in CRD_NAMES}


def ballast_objects(k: Kubectl) -> dict[str, dict]:
    """Every Ballast object of the namespace (the `ballast` category), by kind/name."""
    return {f"{o['kind']}/{o['metadata']['name']}": o for o in k.get_json("ballast")["items"]}


def identity(objects: dict[str, dict]) -> dict[str, tuple]:
    """What must not change when the operator is upgraded: the same object (uid) with the same spec."""
    return {
        key: (o["metadata"]["uid"], o["metadata"]["generation"], json.dumps(o["spec"], sort_keys=True))
        for key, o in objects.items()
    }


def operator_pods(k: Kubectl, release: Release) -> list[dict]:
    selector = f"app.kubernetes.io/instance={release.name},app.kubernetes.io/component=operator"
    return k.get_json("pods", "-l", selector)["items"]


OPERATOR_REPLICAS = 2  # the chart's default: one leads, one stands by


def running_operator_pod(k: Kubectl, release: Release, not_uid: str | None = None) -> dict:
    """The leading operator pod (the holder of the release's leader Lease), once all the
    release's replicas run and none is terminating."""

    def leader_of_all_running():
        pods = [p for p in operator_pods(k, release) if not p["metadata"].get("deletionTimestamp")]
        if len(pods) != OPERATOR_REPLICAS or any(p["status"].get("phase") != "Running" for p in pods):
            return None
        lease = k.run("get", "lease", f"{release.name}-ballast", "-o", "json", check=False)
        holder = json.loads(lease.stdout)["spec"].get("holderIdentity") if lease.returncode == 0 else None
        leader = next((p for p in pods if p["metadata"]["name"] == holder), None)
        return leader if leader and leader["metadata"]["uid"] != not_uid else None

    return wait_for(leader_of_all_running, timeout=120, interval=1, message="the running operator pods and a leader")


def operator_log(k: Kubectl, pod: dict) -> str:
    return k.run("logs", pod["metadata"]["name"], "--container=operator").stdout


def infer_credit_risk(endpoint: str) -> dict:
    """An Open Inference Protocol request with the example Dataset's three features."""
    body = {
        "inputs": [
            {"name": "income", "shape": [2], "datatype": "FP64", "data": [25.0, 80.0]},
            {"name": "debt", "shape": [2], "datatype": "FP64", "data": [30.0, 5.0]},
            {"name": "region", "shape": [2], "datatype": "BYTES", "data": ["east", "north"]},
        ]
    }
    request = urllib.request.Request(
        f"http://{endpoint}/v2/models/credit-risk/infer",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def log_problems(text: str) -> list[str]:
    return [
        line
        for line in text.splitlines()
        if PROBLEM_LINE.search(line) or "Forbidden" in line or "permission" in line.lower()
    ]


def run_retention_once(k: Kubectl, release: Release) -> str:
    """`kubectl create job --from=cronjob/...`, as values.yaml tells an administrator to try a
    run before turning retention.apply on; the finished pod's log."""
    (cronjob,) = [o for o in release.objects() if o["kind"] == "CronJob"]
    job = f"gc-now-{uuid.uuid4().hex[:6]}"
    k.run("create", "job", job, f"--from=cronjob/{cronjob['metadata']['name']}")
    wait_for(
        lambda: (
            (k.get_json("job", job).get("status") or {}).get("succeeded") == 1
            or (k.get_json("job", job).get("status") or {}).get("failed")
        ),
        timeout=90,
        interval=1,
        message=f"the retention Job {job} to finish",
    )
    (pod,) = k.get_json("pods", "-l", f"job-name={job}")["items"]
    log = k.run("logs", pod["metadata"]["name"]).stdout
    assert pod["status"]["phase"] == "Succeeded", log
    (container,) = pod["spec"]["containers"]
    # the chart's image by digest, uid 65532, and the store read-only for a dry run
    assert container["image"] == ballast_image()
    assert pod["spec"]["securityContext"]["runAsUser"] == 65532
    assert [m.get("readOnly") for m in container["volumeMounts"] if m["name"] == "artifact-store"] == [True]
    return log


def give_back_crds(kubectl: Kubectl, release: Release) -> None:
    """Undo what --take-ownership and the chart added to the session's CRDs, unless another
    release (another session's test) owns them by now."""
    for name, metadata in crd_metadata(kubectl).items():
        if (metadata.get("annotations") or {}).get("meta.helm.sh/release-name") != release.name:
            continue
        kubectl.run("annotate", "crd", name, *(f"{a}-" for a in HELM_OWNERSHIP_ANNOTATIONS), check=False)
        kubectl.run("label", "crd", name, *(f"{label}-" for label in HELM_RELEASE_LABELS), check=False)


@pytest.fixture
def own_namespace(kubectl: Kubectl, crds):
    """A namespace outside the session operator's pattern, so the installed operator is the only
    one serving it; afterwards no Ballast object in it keeps a finalizer that no operator is left
    to remove, and the CRDs are given back."""
    name = f"helm-{uuid.uuid4().hex[:8]}"
    kubectl.run("create", "namespace", name)
    wait_for(
        lambda: kubectl.run("get", "serviceaccount", "default", "-n", name, check=False).returncode == 0,
        timeout=30,
        message=f"default ServiceAccount in {name}",
    )
    releases: list[Release] = []
    yield name, releases
    for release in releases:
        if release.exists():
            release.helm("uninstall", release.name, "--wait", "--timeout=60s", check=False, timeout=90)
    k = kubectl.in_namespace(name)
    for line in k.run("get", "ballast", "-o", "name", check=False).stdout.split():
        k.run("patch", line, "--type=merge", "-p", '{"metadata":{"finalizers":null}}', check=False)
    kubectl.run("delete", "namespace", name, "--wait=false", check=False)
    for release in releases:
        give_back_crds(kubectl, release)


def test_helm_install_serves_a_model_upgrade_keeps_every_object_and_uninstall_keeps_crds_and_objects(
    kubectl: Kubectl, kubeconfig: Path, own_namespace
):
    namespace, releases = own_namespace
    k = kubectl.in_namespace(namespace)
    release = Release(f"it-{uuid.uuid4().hex[:6]}", namespace, kubeconfig)
    values = cluster_values([namespace])

    # Before anything is installed: the chart keeps the CRDs on uninstall, or the test stops here.
    chart_crds = find(rendered(values, release=release.name, namespace=namespace), "CustomResourceDefinition")
    assert sorted(c["metadata"]["name"] for c in chart_crds) == CRD_NAMES
    assert all(c["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep" for c in chart_crds)
    crd_uids = {name: m["uid"] for name, m in crd_metadata(kubectl).items()}

    # --- install ------------------------------------------------------------------------------
    releases.append(release)
    release.install(values, take_ownership=True)
    assert (release.status()["info"]["status"], release.status()["version"]) == ("deployed", 1)
    adopted = crd_metadata(kubectl)
    assert {name: m["uid"] for name, m in adopted.items()} == crd_uids, "the CRDs were replaced, not adopted"
    assert all(m["annotations"]["meta.helm.sh/release-name"] == release.name for m in adopted.values())
    (account,) = [
        o["metadata"]["name"]
        for o in release.objects()
        if o["kind"] == "ServiceAccount" and o["metadata"]["labels"]["app.kubernetes.io/component"] == "operator"
    ]
    kinds = {o["kind"] for o in release.objects()}
    assert {"Role", "RoleBinding"} <= kinds  # namespaced mode: its rights end at this namespace

    first = running_operator_pod(k, release)
    spec = first["spec"]
    (container,) = spec["containers"]
    assert container["args"][-1] == f"--namespace={namespace}"
    # The image the registry holds, by digest, run as the restricted profile asks
    assert container["image"] == ballast_image()
    [status] = first["status"]["containerStatuses"]
    if image_digest(ballast_image()):
        assert status["imageID"].endswith(image_digest(ballast_image())), status["imageID"]
    pod_name = first["metadata"]["name"]
    assert k.run("exec", pod_name, "--", "id", "-u").stdout.strip() == "65532"
    planted = k.run("exec", pod_name, "--", "sh", "-c", "echo x > /opt/ballast/planted", check=False)
    assert planted.returncode != 0 and "Read-only file system" in planted.stderr, planted.stderr
    # Its only credential is its ServiceAccount's token, projected by the ServiceAccount admission
    # plugin and mounted by the kubelet.
    assert spec["serviceAccountName"] == account
    token_volumes = {
        v["name"]
        for v in spec["volumes"]
        if any("serviceAccountToken" in s for s in (v.get("projected") or {}).get("sources", []))
    }
    assert {
        m["name"] for m in container["volumeMounts"] if m["mountPath"] == SERVICE_ACCOUNT_TOKEN_PATH
    } == token_volumes
    assert len(token_volumes) == 1
    assert not [e for e in container.get("env", []) if e["name"] == "KUBECONFIG"]

    # --- the example Dataset and TrainingRun, through to a served model ---------------------------
    k.apply(example("01-dataset.yaml"))
    dataset = wait_for_condition(k, "dataset", "credit", "Ready", timeout=150)
    assert condition(dataset, "Ready")["status"] == "True", condition(dataset, "Ready")
    run = example("02-trainingrun.yaml")
    # the example's Canary rollout analyses each step for a minute; Immediate promotes at once
    run["spec"]["modelVersionTemplate"]["rollout"] = {"strategy": "Immediate"}
    k.apply(run)
    trained = wait_for_condition(k, "trainingrun", "credit-forest-1", "Succeeded", timeout=180)
    assert condition(trained, "Succeeded")["status"] == "True", condition(trained, "Succeeded")
    version = trained["status"]["modelVersion"]
    wait_for_stage(k, version, "Production", timeout=120)
    endpoints = wait_for(lambda: ready_endpoints(k, "credit-risk"), timeout=60, message="a ready endpoint")
    answer = infer_credit_risk(endpoints[0])
    assert answer["model_name"] == "credit-risk"
    predictions = next(o for o in answer["outputs"] if o["name"] == "predict")["data"]
    assert len(predictions) == 2 and set(predictions) <= {0, 1}

    # --- the retention CronJob, run once now: a dry run over the watched namespace ---------------
    gc_log = run_retention_once(k, release)
    assert f"namespace {namespace}:" in gc_log
    # the Dataset's version and the model's artifact are both referenced: nothing to delete
    assert re.search(r"would delete 0 of 2 versions \(0 bytes\); 2 kept as referenced", gc_log), gc_log

    # --- upgrade: a new operator, the same objects ------------------------------------------------
    before = ballast_objects(k)
    assert {"Dataset/credit", "TrainingRun/credit-forest-1", f"ModelVersion/{version}"} <= set(before)
    serving = k.get_json("deployment", "-l", f"ballast.dev/model-version={version}")["items"]
    assert len(serving) == 1
    first_log = operator_log(k, first)  # the pod goes with the upgrade (a rolling update)
    release.upgrade(values | {"operator.verbose": True})
    assert release.status()["version"] == 2
    second = running_operator_pod(k, release, not_uid=first["metadata"]["uid"])
    assert "--verbose" in second["spec"]["containers"][0]["args"]
    after = ballast_objects(k)
    assert identity(after) == identity(before)
    assert after[f"ModelVersion/{version}"]["status"]["stage"] == "Production"
    assert [
        d["metadata"]["uid"] for d in k.get_json("deployment", "-l", f"ballast.dev/model-version={version}")["items"]
    ] == [serving[0]["metadata"]["uid"]]
    assert {name: m["uid"] for name, m in crd_metadata(kubectl).items()} == crd_uids
    # the new operator works, with the upgraded value: a new Dataset, and its debug log
    copy = example("01-dataset.yaml")
    copy["metadata"]["name"] = "credit-after-upgrade"
    k.apply(copy)
    upgraded = wait_for_condition(k, "dataset", "credit-after-upgrade", "Ready", timeout=150)
    assert condition(upgraded, "Ready")["status"] == "True", condition(upgraded, "Ready")
    second_log = operator_log(k, second)
    assert " DEBUG " in second_log and " DEBUG " not in first_log

    # --- uninstall: the operator goes; the CRDs, the objects and the artifacts stay ---------------
    installed = release.objects()
    before_uninstall = ballast_objects(k)
    kept = release.uninstall()
    assert sorted(kept) == sorted(
        [("CustomResourceDefinition", name) for name in CRD_NAMES] + [("PersistentVolumeClaim", "ballast-artifacts")]
    )
    assert not release.exists()
    assert {name: m["uid"] for name, m in crd_metadata(kubectl).items()} == crd_uids
    assert {key: o["metadata"]["uid"] for key, o in ballast_objects(k).items()} == {
        key: o["metadata"]["uid"] for key, o in before_uninstall.items()
    }
    assert k.get_json("pvc", "ballast-artifacts")["status"]["phase"] == "Bound"
    removed = [o for o in installed if (o["kind"], o["metadata"]["name"]) not in kept]
    assert {o["kind"] for o in removed} >= {
        "Deployment",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "ClusterRole",
        "ClusterRoleBinding",
    }
    for obj in removed:
        where = ["--namespace", obj["metadata"]["namespace"]] if obj["metadata"].get("namespace") else []
        gone = kubectl.run("get", obj["kind"].lower(), obj["metadata"]["name"], *where, check=False)
        assert gone.returncode != 0, f"{obj['kind']}/{obj['metadata']['name']} outlived the release"
    wait_for(lambda: operator_pods(k, release) == [], timeout=60, message="the operator pods to go")

    problems = log_problems(first_log) + log_problems(second_log) + log_problems(gc_log)
    assert problems == [], "\n".join(problems)
