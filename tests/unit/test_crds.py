"""The committed CRDs are exactly what the typed models generate, and they are structural."""

import yaml

from ballast.api.generate import render_crds, stale_files
from ballast.api.kinds import ALL_KINDS
from tests.support.kube import REPO

CRDS = REPO / "crds"


def test_committed_crds_are_current():
    assert stale_files(CRDS) == [], "crds/ is stale: run `make crds` and commit the result"


def test_every_kind_has_a_crd_file_and_nothing_else_is_there():
    assert sorted(p.name for p in CRDS.glob("*.yaml")) == sorted(render_crds())


def _walk(node, path="openAPIV3Schema"):
    yield path, node
    for name, child in (node.get("properties") or {}).items():
        yield from _walk(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from _walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _walk(node["additionalProperties"], f"{path}{{}}")


def _schemas():
    for name, text in render_crds().items():
        crd = yaml.safe_load(text)
        yield name, crd, crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def test_schemas_are_structural():
    problems = []
    for name, _, root in _schemas():
        for path, node in _walk(root):
            free_form = node.get("x-kubernetes-preserve-unknown-fields") or node.get("x-kubernetes-int-or-string")
            if "type" not in node and not free_form:
                problems.append(f"{name}: {path} has no type")
            if "$ref" in node or "$defs" in node:
                problems.append(f"{name}: {path} still has a reference")
            if "anyOf" in node and not node.get("x-kubernetes-int-or-string"):
                problems.append(f"{name}: {path} uses anyOf")
            if "properties" in node and "additionalProperties" in node:
                problems.append(f"{name}: {path} has both properties and additionalProperties")
            if isinstance(node.get("exclusiveMinimum"), (int, float)) and not isinstance(
                node["exclusiveMinimum"], bool
            ):
                problems.append(f"{name}: {path} has a numeric exclusiveMinimum")
    assert problems == []


def test_every_status_has_observed_generation_and_keyed_conditions():
    for name, _, root in _schemas():
        status = root["properties"]["status"]["properties"]
        assert status["observedGeneration"]["type"] == "integer", name
        conditions = status["conditions"]
        assert conditions["x-kubernetes-list-type"] == "map", name
        assert conditions["x-kubernetes-list-map-keys"] == ["type"], name
        required = set(conditions["items"]["required"])
        assert {"type", "status", "reason", "lastTransitionTime"} <= required, name


def test_names_group_and_printer_columns():
    by_kind = {kind.kind: kind for kind in ALL_KINDS}
    for name, crd, _ in _schemas():
        spec = crd["spec"]
        assert spec["group"] == "ballast.dev" and spec["scope"] == "Namespaced"
        assert spec["names"]["categories"] == ["ballast"]
        assert spec["names"]["shortNames"], name
        version = spec["versions"][0]
        assert version["name"] == "v1alpha1" and version["subresources"] == {"status": {}}
        columns = [c["name"] for c in version["additionalPrinterColumns"]]
        assert {"Ready", "Reason", "Age"} <= set(columns), name
        assert spec["names"]["kind"] in by_kind
