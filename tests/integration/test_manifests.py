"""manifests/: the kustomize base is what manifests/render.sh renders from the chart today (not
stale), the real API server accepts it (server-side dry run), the overlay and the uninstall that
manifests/README.md documents do what it says, and the Argo CD Application points at the chart
with values the chart's schema accepts."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.helm import CHART, find, helm_binary
from tests.support.kube import REPO, Kubectl

MANIFESTS = REPO / "manifests"
BASE = MANIFESTS / "base"
README = MANIFESTS / "README.md"
APPLICATION = MANIFESTS / "argocd" / "application.yaml"
# kubectl.kubernetes.io/last-applied-configuration, which client-side apply fills with the whole
# object, is refused above this (the API server's limit on all annotations together)
ANNOTATIONS_LIMIT = 256 * 1024


def _files(directory: Path) -> dict[str, str]:
    return {str(p.relative_to(directory)): p.read_text() for p in sorted(directory.rglob("*")) if p.is_file()}


def _documents(text: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def _overlay(directory: Path, kustomization: str) -> Path:
    """A kustomization in `directory` whose `../../base` means manifests/base (kustomize refuses
    absolute paths, so it becomes a relative one)."""
    directory.mkdir(parents=True)
    base = os.path.relpath(BASE, directory)
    (directory / "kustomization.yaml").write_text(kustomization.replace("../../base", base))
    return directory


def _readme_overlay() -> str:
    """The overlay manifests/README.md shows: its yaml block with `replacements:`."""
    blocks = re.findall(r"```yaml\n(.*?)```", README.read_text(), re.S)
    (overlay,) = [block for block in blocks if "replacements:" in block]
    return overlay


# --- generated, and current -------------------------------------------------------------------


def test_base_is_what_render_sh_renders_from_the_chart_now(tmp_path):
    result = subprocess.run(
        ["bash", str(MANIFESTS / "render.sh"), str(tmp_path)],
        capture_output=True,
        text=True,
        env={**os.environ, "HELM": helm_binary()},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    fresh, committed = _files(tmp_path), _files(BASE)
    stale = sorted(name for name in fresh.keys() | committed.keys() if fresh.get(name) != committed.get(name))
    assert stale == [], "manifests/base is stale (run `make manifests`): " + ", ".join(stale)


def test_base_lists_one_resource_per_file_and_every_file():
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    files = {name for name in _files(BASE) if name != "kustomization.yaml"}
    assert sorted(kustomization["resources"]) == sorted(files)
    for name in files:
        assert len(_documents((BASE / name).read_text())) == 1, name
    kinds = sorted(_documents((BASE / name).read_text())[0]["kind"] for name in files)
    # five ClusterRoles: the operator's, retention's, and the tenants' view, edit and admin (aggregated)
    assert kinds == sorted(
        ["Namespace", "Service", "PersistentVolumeClaim", "Deployment", "CronJob", "PodDisruptionBudget"]
        + ["Role", "RoleBinding"]  # the leader Lease's
        + ["ServiceAccount", "ClusterRoleBinding"] * 2
        + ["ClusterRole"] * 5
        + ["CustomResourceDefinition"] * 4
    )


# --- the real API server ----------------------------------------------------------------------


def test_base_is_accepted_by_the_api_server(kubectl: Kubectl, namespace: str, tmp_path):
    """`kubectl apply -k --dry-run=server`, every object. A dry run creates nothing, not even
    the base's own ballast-system Namespace, so the objects in it would all be refused as
    "namespace not found"; an overlay moves them into the test's namespace instead (which also
    shows that nothing in the base is tied to ballast-system)."""
    overlay = _overlay(tmp_path / "overlay", f"resources:\n  - ../../base\nnamespace: {namespace}\n")
    built = kubectl.run("kustomize", str(overlay)).stdout
    assert "ballast-system" not in built
    objects = _documents(built)
    result = kubectl.run("apply", "--dry-run=server", "-k", str(overlay), check=False)
    assert result.returncode == 0, result.stderr
    accepted = [line for line in result.stdout.splitlines() if line.endswith("(server dry run)")]
    assert len(accepted) == len(objects) == len(_files(BASE)) - 1, result.stdout


# --- what manifests/README.md promises ----------------------------------------------------------


def test_readme_overlay_gives_the_operator_and_its_pods_the_new_image(kubectl: Kubectl, tmp_path):
    overlay = _overlay(tmp_path / "overlays" / "production", _readme_overlay())
    objects = _documents(kubectl.run("kustomize", str(overlay)).stdout)
    (deployment,) = find(objects, "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert container["image"] == "registry.example.com/team/ballast:0.1.0"
    assert env["BALLAST_IMAGE"] == container["image"]
    assert env["BALLAST_IMAGE_PULL_POLICY"] == "IfNotPresent"  # the unanchored pattern overwrote this too
    (cronjob,) = find(objects, "CronJob")  # `images:` reaches the retention CronJob's container too
    (gc,) = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert gc["image"] == container["image"]
    assert "ballast-system" not in json.dumps(objects)
    (namespace,) = find(objects, "Namespace")
    assert namespace["metadata"]["name"] == "ml-platform"
    bindings = find(objects, "ClusterRoleBinding")  # the operator's and the retention CronJob's
    assert sorted(b["metadata"]["name"] for b in bindings) == ["ballast", "ballast-retention"]
    assert [b["subjects"][0]["namespace"] for b in bindings] == ["ml-platform"] * 2


def test_readme_uninstall_removes_the_operator_and_nothing_that_holds_data(kubectl: Kubectl):
    command = "kubectl delete -k manifests/base -l 'app.kubernetes.io/component in (operator,retention)'"
    assert command in README.read_text()
    # a client-side dry run: kubectl lists what it would delete, without a server
    result = kubectl.run(*shlex.split(command)[1:], "--dry-run=client")
    deleted = sorted(line.split(" deleted")[0] for line in result.stdout.splitlines())
    assert deleted == sorted(
        [
            'clusterrole.rbac.authorization.k8s.io "ballast"',
            'clusterrolebinding.rbac.authorization.k8s.io "ballast"',
            'deployment.apps "ballast"',
            'poddisruptionbudget.policy "ballast"',
            'role.rbac.authorization.k8s.io "ballast-leader-election"',
            'rolebinding.rbac.authorization.k8s.io "ballast-leader-election"',
            'service "ballast-metrics"',
            'serviceaccount "ballast"',
            'clusterrole.rbac.authorization.k8s.io "ballast-retention"',
            'clusterrolebinding.rbac.authorization.k8s.io "ballast-retention"',
            'cronjob.batch "ballast-retention"',
            'serviceaccount "ballast-retention"',
        ]
    )


# --- Argo CD ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def application() -> dict:
    return yaml.safe_load(APPLICATION.read_text())


def test_argocd_application_installs_the_chart_with_values_the_schema_accepts(application, tmp_path):
    assert (application["apiVersion"], application["kind"]) == ("argoproj.io/v1alpha1", "Application")
    source = application["spec"]["source"]
    assert source["path"] == str(CHART.relative_to(REPO)) and (REPO / source["path"] / "Chart.yaml").exists()
    # label tracking writes the Application's name into app.kubernetes.io/instance, the release's label
    assert source["helm"]["releaseName"] == application["metadata"]["name"]
    # deleting the Application must not cascade into the CRDs (and every user object)
    assert "resources-finalizer.argocd.argoproj.io" not in application["metadata"].get("finalizers", [])
    namespace = application["spec"]["destination"]["namespace"]
    assert "CreateNamespace=true" in application["spec"]["syncPolicy"]["syncOptions"]

    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump(source["helm"]["valuesObject"]))
    result = subprocess.run(
        [
            helm_binary(),
            "template",
            source["helm"]["releaseName"],
            str(REPO / source["path"]),
            "--namespace",
            namespace,
            "--values",
            str(values),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    objects = _documents(result.stdout)
    (deployment,) = find(objects, "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "registry.example.com/team/ballast:0.1.0"
    (claim,) = find(objects, "PersistentVolumeClaim")
    assert claim["spec"]["storageClassName"] == "nfs-rwx"
    # and a typo in the Application's values would fail the render, not be ignored
    values.write_text(yaml.safe_dump({**source["helm"]["valuesObject"], "imagee": {}}))
    typo = subprocess.run(
        [helm_binary(), "template", "ballast", str(CHART), "--values", str(values)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert typo.returncode != 0 and "imagee" in typo.stderr


def test_crds_need_no_server_side_apply(application):
    """The Application leaves ServerSideApply off because every CRD is far below the size at
    which client-side apply fails; this keeps that true."""
    sync_options = application["spec"]["syncPolicy"]["syncOptions"]
    for path in sorted((BASE / "crds").glob("*.yaml")):
        size = len(json.dumps(yaml.safe_load(path.read_text()), separators=(",", ":")))
        if "ServerSideApply=true" not in sync_options:
            assert size < ANNOTATIONS_LIMIT / 2, (
                f"{path.name} is {size} bytes as JSON: add ServerSideApply=true to "
                f"{APPLICATION.relative_to(REPO)} (and say so in its comments)"
            )
