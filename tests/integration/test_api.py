"""Ballast's API on a real API server: valid objects accepted, invalid ones refused with a
message that names the field, and status kept apart from spec."""

from __future__ import annotations

import copy
import json

import pytest
import yaml

from ballast.api.kinds import ALL_KINDS, kind_info
from tests.support.kube import REPO, Kubectl

EXAMPLES = {
    doc["kind"]: doc
    for path in sorted((REPO / "examples").glob("*.yaml"))
    for doc in yaml.safe_load_all(path.read_text())
    if doc and doc.get("apiVersion") == "ballast.dev/v1alpha1"
}
DELETE = object()
SHA = "a" * 64


def mutated(kind: str, changes: dict) -> dict:
    """The example of kind with each dotted path set to a value (or removed with DELETE)."""
    document = copy.deepcopy(EXAMPLES[kind])
    for path, value in changes.items():
        *parents, leaf = path.split(".")
        node = document
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
        if value is DELETE:
            del node[leaf]
        elif isinstance(node, list):
            node[int(leaf)] = value
        else:
            node[leaf] = value
    return document


# (kind, changes, words the API server's message must contain: the field, and what is wrong)
INVALID = {
    "dataset-two-sources": (
        "Dataset",
        {"spec.source.url": "https://example.com/d.csv"},
        ["spec.source", "exactly one of"],
    ),
    "dataset-no-source": ("Dataset", {"spec.source": DELETE}, ["spec.source", "Required"]),
    "dataset-empty-source": ("Dataset", {"spec.source": {}}, ["spec.source", "exactly one of"]),
    "dataset-unknown-format": ("Dataset", {"spec.format": "xlsx"}, ["spec.format", "Unsupported value"]),
    "dataset-unknown-column-type": (
        "Dataset",
        {"spec.schema.columns.0.type": "datetime"},
        ["spec.schema.columns[0].type", "Unsupported value"],
    ),
    "dataset-negative-min-rows": ("Dataset", {"spec.validation.minRows": -1}, ["spec.validation.minRows"]),
    "dataset-null-fraction-above-one": (
        "Dataset",
        {"spec.validation.maxNullFraction": 1.5},
        ["spec.validation.maxNullFraction"],
    ),
    "dataset-target-not-a-column": (
        "Dataset",
        {"spec.schema.target": "income_band"},
        ["spec.schema", "target must name one of the columns"],
    ),
    "dataset-feature-not-a-column": (
        "Dataset",
        {"spec.schema.features": ["income", "age"]},
        ["spec.schema", "every feature must name one of the columns"],
    ),
    "dataset-bad-duration": ("Dataset", {"spec.refreshInterval": "soon"}, ["spec.refreshInterval"]),
    "dataset-minimum-above-maximum": (
        "Dataset",
        {"spec.schema.columns.0.maximum": -5},
        ["spec.schema.columns[0]", "minimum must not be greater than maximum"],
    ),
    "dataset-ftp-url": ("Dataset", {"spec.source": {"url": "ftp://example.com/d.csv"}}, ["spec.source.url"]),
    "dataset-pvc-without-claim": (
        "Dataset",
        {"spec.source": {"pvc": {"path": "d.csv"}}},
        ["spec.source.pvc.claimName", "Required"],
    ),
    "dataset-unknown-field": ("Dataset", {"spec.sourcee": {"url": "https://x"}}, ["spec.sourcee", "unknown field"]),
    "run-without-model": ("TrainingRun", {"spec.model": DELETE}, ["spec.model", "Required"]),
    "run-estimator-not-allowed": ("TrainingRun", {"spec.estimator": "os.system"}, ["spec", "estimator must be one of"]),
    "run-test-fraction-one": ("TrainingRun", {"spec.evaluation.testFraction": 1.0}, ["spec.evaluation.testFraction"]),
    "run-test-fraction-zero": ("TrainingRun", {"spec.evaluation.testFraction": 0}, ["spec.evaluation.testFraction"]),
    "run-negative-backoff": ("TrainingRun", {"spec.backoffLimit": -1}, ["spec.backoffLimit"]),
    "run-zero-deadline": ("TrainingRun", {"spec.activeDeadlineSeconds": 0}, ["spec.activeDeadlineSeconds"]),
    "run-seed-wrong-type": ("TrainingRun", {"spec.seed": "forty-two"}, ["spec.seed", "integer"]),
    "run-malformed-dataset-version": (
        "TrainingRun",
        {"spec.datasetRef.version": "abc123"},
        ["spec.datasetRef.version"],
    ),
    "run-unknown-gate-metric": (
        "TrainingRun",
        {"spec.evaluation.gates.minimums": {"speed": 1}},
        ["spec.evaluation.gates", "metric names"],
    ),
    "run-unknown-primary-metric": (
        "TrainingRun",
        {"spec.evaluation.primaryMetric": "speed"},
        ["spec.evaluation.primaryMetric", "Unsupported value"],
    ),
    "run-unknown-resource": (
        "TrainingRun",
        {"spec.resources.requests": {"nvidia.com/gpu": 1}},
        ["spec.resources", "may only name"],
    ),
    "run-command-without-image": (
        "TrainingRun",
        {"spec.command": ["python", "train.py"]},
        ["spec", "command may only be set together with a custom image"],
    ),
    "run-uppercase-model": ("TrainingRun", {"spec.model": "Credit_Risk"}, ["spec.model"]),
    "version-malformed-sha256": ("ModelVersion", {"spec.artifact.sha256": "not-a-digest"}, ["spec.artifact.sha256"]),
    "version-pickle-format": (
        "ModelVersion",
        {"spec.artifact.format": "pickle"},
        ["spec.artifact.format", "Unsupported value"],
    ),
    "version-unknown-strategy": (
        "ModelVersion",
        {"spec.rollout.strategy": "BlueGreen"},
        ["spec.rollout.strategy", "Unsupported value"],
    ),
    "version-negative-replicas": ("ModelVersion", {"spec.serving.replicas": -1}, ["spec.serving.replicas"]),
    "version-decreasing-steps": (
        "ModelVersion",
        {"spec.rollout.steps": [50, 10]},
        ["spec.rollout", "increasing order"],
    ),
    "version-zero-step": ("ModelVersion", {"spec.rollout.steps": [0, 50]}, ["spec.rollout.steps[0]"]),
    "version-uri-without-scheme": (
        "ModelVersion",
        {"spec.artifact.uri": "/var/lib/model.skops"},
        ["spec.artifact.uri"],
    ),
    "version-without-artifact": ("ModelVersion", {"spec.artifact": DELETE}, ["spec.artifact", "Required"]),
    "policy-template-without-model": (
        "DriftPolicy",
        {"spec.action.retrain.template.spec.model": DELETE},
        ["spec.action.retrain.template.spec.model", "Required"],
    ),
    "policy-retrain-without-template": (
        "DriftPolicy",
        {"spec.action.retrain": DELETE},
        ["spec.action", "needs action.retrain"],
    ),
    "policy-template-other-model": (
        "DriftPolicy",
        {"spec.action.retrain.template.spec.model": "another"},
        ["spec", "must be the policy's model"],
    ),
    "policy-template-pins-version": (
        "DriftPolicy",
        {"spec.action.retrain.template.spec.datasetRef.version": SHA},
        ["spec.action.retrain.template", "newest valid dataset version"],
    ),
    "policy-drifted-share-above-one": (
        "DriftPolicy",
        {"spec.checks.featureDrift.driftedShare": 1.5},
        ["spec.checks.featureDrift.driftedShare"],
    ),
    "policy-categorical-method-for-numbers": (
        "DriftPolicy",
        {"spec.checks.featureDrift.numericMethod": "chiSquare"},
        ["spec.checks.featureDrift.numericMethod", "Unsupported value"],
    ),
    "policy-zero-min-samples": ("DriftPolicy", {"spec.window.minSamples": 0}, ["spec.window.minSamples"]),
    "policy-bad-cooldown": ("DriftPolicy", {"spec.cooldown": "1 hour"}, ["spec.cooldown"]),
    "policy-unknown-action": ("DriftPolicy", {"spec.action.type": "page"}, ["spec.action.type", "Unsupported value"]),
    "policy-fairness-without-feature": (
        "DriftPolicy",
        {"spec.checks.fairness": {"maxIncrease": 0.1}},
        ["spec.checks.fairness.sensitiveFeature", "Required"],
    ),
    "policy-error-rate-rise-above-one": (
        "DriftPolicy",
        {"spec.checks.errorRates.maxIncrease": 1.5},
        ["spec.checks.errorRates.maxIncrease"],
    ),
}


@pytest.fixture
def ns_kubectl(kubectl: Kubectl, namespace: str, crds) -> Kubectl:
    return kubectl.in_namespace(namespace)


def test_there_are_at_least_25_invalid_cases_covering_every_kind():
    assert len(INVALID) >= 25
    assert {kind for kind, _, _ in INVALID.values()} == set(EXAMPLES)


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_valid_example_is_accepted(ns_kubectl: Kubectl, kind: str):
    ns_kubectl.apply(EXAMPLES[kind])
    name = EXAMPLES[kind]["metadata"]["name"]
    stored = ns_kubectl.get_json(kind.lower() + ".ballast.dev", name)
    assert stored["spec"]["model" if kind != "Dataset" else "source"]


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_object_is_refused_with_a_message_naming_the_field(ns_kubectl: Kubectl, case: str):
    kind, changes, expected = INVALID[case]
    document = mutated(kind, changes)
    result = ns_kubectl.run("create", "--validate=strict", "-f", "-", input=json.dumps(document), check=False)
    assert result.returncode != 0, f"{case} was accepted"
    for words in expected:
        assert words in result.stderr, f"{case}: {words!r} not in {result.stderr!r}"
    absent = ns_kubectl.run("get", kind.lower() + ".ballast.dev", document["metadata"]["name"], check=False)
    assert absent.returncode != 0, f"{case} was stored"


def test_get_ballast_shows_every_kind_with_its_printer_columns(ns_kubectl: Kubectl):
    for document in EXAMPLES.values():
        ns_kubectl.apply(document)
    output = ns_kubectl.run("get", "ballast").stdout
    for kind in EXAMPLES:
        assert f"{kind.lower()}.ballast.dev/{EXAMPLES[kind]['metadata']['name']}" in output
    headers = [line.split() for line in output.splitlines() if line.startswith("NAME")]
    assert ["NAME", "READY", "REASON", "ROWS", "AGE"] in headers
    assert ["NAME", "MODEL", "STAGE", "TRAFFIC", "READY", "REASON", "METRIC", "VALUE", "AGE"] in headers
    assert ["NAME", "MODEL", "DATASET", "DATA-VERSION", "READY", "REASON", "METRIC", "VALUE", "AGE"] in headers
    assert ["NAME", "MODEL", "DRIFTING", "SCORE", "VERDICT", "RETRAIN", "READY", "REASON", "AGE"] in headers


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_kubectl_get_short_name_lists_the_ballast_kind(ns_kubectl: Kubectl, kind: str):
    ns_kubectl.apply(EXAMPLES[kind])
    listed = f"{kind.lower()}.ballast.dev/{EXAMPLES[kind]['metadata']['name']}"
    for short in kind_info(kind).short_names:
        assert ns_kubectl.run("get", short, "-o", "name").stdout.split() == [listed], short


def test_no_other_resource_the_api_server_serves_uses_a_ballast_short_name(kubectl: Kubectl, crds):
    """Discovery as kubectl reads it: every short name with the groups that claim it."""
    lines = kubectl.run("api-resources").stdout.splitlines()
    header = lines[0]
    short_names, api_version = header.index("SHORTNAMES"), header.index("APIVERSION")
    groups: dict[str, set[str]] = {}
    for line in lines[1:]:
        group = line[api_version:].split()[0].rpartition("/")[0]
        for short in filter(None, line[short_names:api_version].strip().split(",")):
            groups.setdefault(short, set()).add(group)
    assert "ds" in groups and "apps" in groups["ds"]  # the columns were read right
    ours = [short for info in ALL_KINDS for short in info.short_names]
    assert {short: groups.get(short) for short in ours} == {short: {"ballast.dev"} for short in ours}


def test_model_version_artifact_is_immutable(ns_kubectl: Kubectl):
    ns_kubectl.apply(EXAMPLES["ModelVersion"])
    name = EXAMPLES["ModelVersion"]["metadata"]["name"]
    result = ns_kubectl.run(
        "patch",
        "modelversion",
        name,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"artifact": {"sha256": SHA}}}),
        check=False,
    )
    assert result.returncode != 0
    assert "artifact is immutable" in result.stderr
    assert ns_kubectl.get_json("modelversion", name)["spec"]["artifact"]["sha256"] != SHA


def test_spec_writes_ignore_status_and_status_writes_ignore_spec(ns_kubectl: Kubectl):
    ns_kubectl.apply(EXAMPLES["Dataset"])
    before = ns_kubectl.get_json("dataset", "credit")
    ns_kubectl.run(
        "patch",
        "dataset",
        "credit",
        "--type=merge",
        "-p",
        json.dumps({"spec": {"format": "parquet"}, "status": {"latestRows": 12345}}),
    )
    after_spec_write = ns_kubectl.get_json("dataset", "credit")
    assert after_spec_write["spec"]["format"] == "parquet"
    assert after_spec_write["metadata"]["generation"] == before["metadata"]["generation"] + 1
    assert after_spec_write.get("status", {}).get("latestRows") != 12345

    ns_kubectl.run(
        "patch",
        "dataset",
        "credit",
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"spec": {"format": "csv"}, "status": {"latestRows": 54321}}),
    )
    after_status_write = ns_kubectl.get_json("dataset", "credit")
    assert after_status_write["status"]["latestRows"] == 54321
    assert after_status_write["spec"]["format"] == "parquet"
    assert after_status_write["metadata"]["generation"] == after_spec_write["metadata"]["generation"]
