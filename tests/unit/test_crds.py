"""The committed CRDs are exactly what the typed models generate, and they are structural."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from ballast.api.common import ApiModel, key_metric_for_status, rounded_for_display
from ballast.api.crd import UndescribedFieldError, crd_for, undescribed_fields
from ballast.api.generate import render_crds, stale_files
from ballast.api.kinds import ALL_KINDS, KindInfo
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


def test_every_field_has_a_description():
    for name, _, root in _schemas():
        assert root.get("description"), name
        undescribed = [path for path, node in _walk(root) if path.count(".") and not node.get("description")]
        # items and map values are described by their field
        assert [p for p in undescribed if not p.endswith(("[]", "{}"))] == ["openAPIV3Schema.metadata"], name


class _Nested(ApiModel):
    """An item of a list."""

    count: int = 0


class _UndescribedSpec(ApiModel):
    """A spec whose second field has no docstring."""

    described: str = ""
    """This one has."""
    nested: list[_Nested] | None = None
    """A list whose items have an undescribed field."""


def _kind_with(spec_model: type[ApiModel]) -> KindInfo:
    return dataclasses.replace(ALL_KINDS[0], spec_model=spec_model)


def test_the_generator_refuses_a_field_without_a_description():
    with pytest.raises(UndescribedFieldError) as refused:
        crd_for(_kind_with(_UndescribedSpec))
    assert "spec.nested[].count" in str(refused.value)
    assert "spec.described" not in str(refused.value)
    assert str(refused.value).startswith(f"{ALL_KINDS[0].kind}: no description on ")


def test_undescribed_fields_names_each_path_once_items_and_maps_included():
    schema = {
        "properties": {
            "a": {"type": "string"},
            "b": {"type": "array", "description": "b", "items": {"properties": {"c": {"type": "string"}}}},
            "d": {"type": "object", "description": "d", "additionalProperties": {"properties": {"e": {}}}},
        }
    }
    assert list(undescribed_fields(schema)) == ["a", "b[].c", "d{}.e"]


# The short names of the resources a current Kubernetes serves itself (`kubectl api-resources`,
# built-in groups only): a Ballast short name among them would shadow, or be shadowed by, a built-in.
BUILT_IN_SHORT_NAMES = {
    "cs": "ComponentStatus",
    "cm": "ConfigMap",
    "ep": "Endpoints",
    "ev": "Event",
    "limits": "LimitRange",
    "ns": "Namespace",
    "no": "Node",
    "pvc": "PersistentVolumeClaim",
    "pv": "PersistentVolume",
    "po": "Pod",
    "rc": "ReplicationController",
    "quota": "ResourceQuota",
    "sa": "ServiceAccount",
    "svc": "Service",
    "crd": "CustomResourceDefinition",
    "crds": "CustomResourceDefinition",
    "ds": "DaemonSet",
    "deploy": "Deployment",
    "rs": "ReplicaSet",
    "sts": "StatefulSet",
    "hpa": "HorizontalPodAutoscaler",
    "cj": "CronJob",
    "csr": "CertificateSigningRequest",
    "ing": "Ingress",
    "netpol": "NetworkPolicy",
    "pdb": "PodDisruptionBudget",
    "pc": "PriorityClass",
    "sc": "StorageClass",
    "vac": "VolumeAttributesClass",
}
BUILT_IN_NAMES = {"all", "events", "jobs", "pods", "services", "nodes", "secrets", "leases"}


def test_short_names_clash_with_no_built_in_resource():
    names = [short for kind in ALL_KINDS for short in kind.short_names]
    assert {short: BUILT_IN_SHORT_NAMES[short] for short in names if short in BUILT_IN_SHORT_NAMES} == {}
    assert set(names).isdisjoint(BUILT_IN_NAMES)
    assert len(names) == len(set(names)), "two kinds share a short name"
    assert all(kind.short_names for kind in ALL_KINDS)


@pytest.mark.parametrize(
    ("value", "shown"),
    [(0.9916666666666667, 0.9917), (0.07890592777014976, 0.07891), (1.2345678e-05, 1.235e-05), (1234.5678, 1235.0)],
)
def test_printer_column_figures_keep_four_significant_digits(value, shown):
    assert rounded_for_display(value) == shown
    assert key_metric_for_status({"name": "accuracy", "value": value}) == {"name": "accuracy", "value": shown}


def test_a_key_metric_without_a_number_is_left_out_of_status():
    assert key_metric_for_status({"name": "accuracy", "value": None}) is None
    assert key_metric_for_status({"name": "accuracy", "value": "high"}) is None
