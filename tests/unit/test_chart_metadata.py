"""What the chart tells people before and after they install it: Chart.yaml's metadata and the
Artifact Hub annotations (kept equal to the API's kinds and to examples/), NOTES.txt with its
next steps and warnings, and the packaged chart, each rendered by a real helm."""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

import pytest
import yaml

from ballast.api.kinds import ALL_KINDS, API_VERSION, GROUP
from tests.support.helm import CHART, helm, set_args
from tests.support.kube import REPO

# https://artifacthub.io/docs/topics/annotations/helm/
OPERATOR_CAPABILITIES = {"Basic Install", "Seamless Upgrades", "Full Lifecycle", "Deep Insights", "Auto Pilot"}
VAP_CAPABILITY = "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy"


def chart_yaml() -> dict:
    return yaml.safe_load((CHART / "Chart.yaml").read_text())


def annotation(name: str):
    """An Artifact Hub annotation, parsed: the list ones are YAML inside a string."""
    return yaml.safe_load(chart_yaml()["annotations"][f"artifacthub.io/{name}"])


def test_chart_says_where_it_comes_from():
    chart = chart_yaml()
    assert chart["home"].startswith("https://") and chart["sources"] == [chart["home"]]
    assert chart["maintainers"] and all(m["name"] and m["url"].startswith("https://") for m in chart["maintainers"])
    # the icon is served from the repository, at the path of the file beside Chart.yaml
    assert chart["icon"].endswith("/main/charts/ballast/icon.svg")
    assert (CHART / "icon.svg").read_text().startswith("<svg")


def test_artifact_hub_annotations_describe_the_four_kinds_with_the_examples():
    assert annotation("crds") == [
        {
            "kind": info.kind,
            "version": API_VERSION.split("/")[1],
            "name": f"{info.plural}.{GROUP}",
            "displayName": info.kind,
            "description": annotation("crds")[index]["description"],
        }
        for index, info in enumerate(ALL_KINDS)
    ]
    for entry, info in zip(annotation("crds"), ALL_KINDS, strict=True):
        # KindInfo.description without its "<Kind>: " lead (Artifact Hub shows the kind beside it)
        assert info.description.lower().endswith(entry["description"].lower()), info.kind
    examples = [yaml.safe_load(p.read_text()) for p in sorted((REPO / "examples").glob("*.yaml"))]
    assert annotation("crdsExamples") == examples, "Chart.yaml's artifacthub.io/crdsExamples differs from examples/"
    assert [e["kind"] for e in examples] == [info.kind for info in ALL_KINDS]


def test_artifact_hub_annotations_name_the_operator_its_image_and_links():
    chart, values = chart_yaml(), yaml.safe_load((CHART / "values.yaml").read_text())
    annotations = chart["annotations"]
    assert annotations["artifacthub.io/operator"] == "true"
    assert annotations["artifacthub.io/operatorCapabilities"] in OPERATOR_CAPABILITIES
    assert annotations["artifacthub.io/license"] == "Apache-2.0"
    assert "Apache License" in (REPO / "LICENSE").read_text()
    assert annotation("images") == [
        {"name": "ballast", "image": f"{values['image']['repository']}:{chart['appVersion']}"}
    ]
    links = annotation("links")
    assert {link["name"] for link in links} >= {"Documentation", "Source"}
    assert all(link["url"].startswith(chart["home"]) for link in links)


# --- NOTES.txt ------------------------------------------------------------------------------


def notes(tmp_path: Path, values: dict | None = None, *, vap: bool = True) -> str:
    """NOTES.txt as `helm install` prints it. `helm template` leaves NOTES.txt out, so a copy of
    the chart renders it as the string of a YAML document instead."""
    chart = tmp_path / "chart"
    shutil.copytree(CHART, chart)
    text = (chart / "templates" / "NOTES.txt").read_text()
    (chart / "templates" / "NOTES.txt").unlink()
    (chart / "templates" / "_notes.tpl").write_text('{{- define "notes.under.test" }}' + text + "{{- end }}\n")
    (chart / "templates" / "notes.yaml").write_text('notes: {{ include "notes.under.test" . | toJson }}\n')
    args = ["--api-versions", VAP_CAPABILITY] if vap else []
    output = helm(
        "template",
        "ml",
        str(chart),
        "--namespace",
        "ml-system",
        "--show-only",
        "templates/notes.yaml",
        *args,
        *set_args(values),
    ).stdout
    return yaml.safe_load(output)["notes"]


def warnings(text: str) -> list[str]:
    if "\nWARNINGS\n" not in text:
        return []
    block = text.split("\nWARNINGS\n", 1)[1].split("\n\n", 1)[0]
    return [line.removeprefix("  - ") for line in block.splitlines()]


@pytest.mark.tools
def test_notes_give_the_next_steps_for_the_release(tmp_path):
    text = notes(tmp_path, {"watch.namespaces": ["team-a", "team-b"]})
    assert text.startswith("Ballast 0.1.0 is installed: release ml in namespace ml-system.")
    assert "The operator watches the namespaces team-a, team-b." in text
    assert "get pods -l app.kubernetes.io/instance=ml,app.kubernetes.io/component=operator" in text
    assert "get lease ml-ballast" in text
    assert "kubectl apply --namespace <team> -f examples/01-dataset.yaml" in text
    assert "ml-ballast-view, -edit and -admin" in text and "--clusterrole=edit" in text
    assert text.rstrip().endswith(f"Documentation: {chart_yaml()['home']}")
    cluster_wide = notes(tmp_path / "2", {"rbac.aggregateClusterRoles": False})
    assert "watches every namespace" in cluster_wide and "--clusterrole=edit" not in cluster_wide


@pytest.mark.tools
def test_notes_warn_of_what_the_defaults_leave_to_do(tmp_path):
    assert [w.split(" ", 1)[0] for w in warnings(notes(tmp_path))] == [
        "image.repository",
        "workloads.customImages.enabled",
        "retention.apply",
    ]


@pytest.mark.parametrize(
    "values, vap, warning",
    [
        ({"operator.replicas": 1}, True, "operator.replicas is 1: nothing stands by"),
        (
            {"operator.replicas": 1, "operator.leaderElection.enabled": False},
            True,
            "operator.leaderElection.enabled is false",
        ),
        ({"store.claim.keep": False}, True, "helm uninstall deletes the claim ballast-artifacts"),
        ({"store.claim.create": False}, True, "the claim ballast-artifacts must exist in ml-system"),
        ({"store.uri": "s3://models/ballast"}, True, "store.secret is empty"),
        ({"workloads.customImages.enabled": True}, True, "allowedPrefixes is empty: every custom image is still"),
        ({}, False, "does not serve ValidatingAdmissionPolicy"),
    ],
)
@pytest.mark.tools
def test_notes_warn_of_a_risky_value(tmp_path, values, vap, warning):
    assert not any(warning in w for w in warnings(notes(tmp_path / "defaults")))
    assert any(warning in w for w in warnings(notes(tmp_path / "risky", values, vap=vap))), warning


@pytest.mark.tools
def test_notes_stay_quiet_when_everything_is_set(tmp_path):
    values = {
        "image.repository": "registry.example.com/ballast",
        "workloads.customImages.enabled": True,
        "workloads.customImages.allowedPrefixes": ["registry.example.com/ml/"],
        "retention.apply": True,
    }
    text = notes(tmp_path, values)
    assert warnings(text) == [] and "WARNINGS" not in text


# --- the packaged chart ---------------------------------------------------------------------


@pytest.mark.tools
def test_the_packaged_chart_holds_the_chart_and_passes_lint(tmp_path):
    helm("package", str(CHART), "--destination", str(tmp_path))
    (package,) = tmp_path.glob("*.tgz")
    assert package.name == f"ballast-{chart_yaml()['version']}.tgz"
    with tarfile.open(package) as archive:
        names = {name.removeprefix("ballast/") for name in archive.getnames()}
    expected = {str(p.relative_to(CHART)) for p in CHART.rglob("*") if p.is_file()} - {"icon.svg"}
    assert names == expected
    assert "0 chart(s) failed" in helm("lint", "--strict", str(package)).stdout
