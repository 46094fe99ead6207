"""ballast.client's pure parts: the manifests apply sends, objects read back, the API errors it
raises, and what wait_for decides on each sighting (tests/integration/test_client.py runs the
client itself against the real API server)."""

from __future__ import annotations

import json

import pytest

from ballast.api.dataset import Column, DatasetSchema, DatasetSource, DatasetSpec, InlineSource
from ballast.api.objects import OBJECT_TYPES
from ballast.api.trainingrun import DatasetRef, TrainingRunSpec
from ballast.client import (
    AlreadyExists,
    ApiError,
    Conflict,
    Dataset,
    Forbidden,
    Invalid,
    ModelVersion,
    NotFound,
    ObjectMeta,
    Stage,
    TrainingRun,
)
from ballast.client.errors import error_from_response
from ballast.client.waiting import Target, failure

NOW = "2026-01-01T00:00:00Z"


def a_dataset(**meta) -> Dataset:
    return Dataset(
        metadata=ObjectMeta(name="iris", **meta),
        spec=DatasetSpec(
            source=DatasetSource(inline=InlineSource(rows=[{"x": 1.0, "y": 0}])),
            schema=DatasetSchema(
                columns=[Column(name="x", type="float"), Column(name="y", type="integer")], target="y"
            ),
        ),
    )


def condition(type: str, status: str, reason: str = "Because", message: str = "") -> dict:
    return {"type": type, "status": status, "reason": reason, "message": message, "lastTransitionTime": NOW}


def test_apply_sends_what_the_user_declared_and_nothing_the_server_owns():
    manifest = a_dataset(labels={"team": "ml"}, resource_version="42", uid="u").for_apply("ml")
    assert manifest == {
        "apiVersion": "ballast.dev/v1alpha1",
        "kind": "Dataset",
        "metadata": {"name": "iris", "namespace": "ml", "labels": {"team": "ml"}},
        # defaults (format, versionHistoryLimit, column nullable) are left to the API server
        "spec": {
            "source": {"inline": {"rows": [{"x": 1.0, "y": 0}]}},
            "schema": {"columns": [{"name": "x", "type": "float"}, {"name": "y", "type": "integer"}], "target": "y"},
        },
    }


def test_an_objects_own_namespace_wins_over_the_clients():
    assert a_dataset(namespace="other").for_apply("ml")["metadata"]["namespace"] == "other"


def test_snake_case_in_python_is_camel_case_on_the_wire():
    run = TrainingRun(
        metadata=ObjectMeta(name="r"),
        spec=TrainingRunSpec(model="iris", dataset_ref=DatasetRef(name="iris"), estimator="sklearn.tree.X", seed=3),
    )
    assert run.for_apply("ml")["spec"] == {
        "model": "iris",
        "datasetRef": {"name": "iris"},
        "estimator": "sklearn.tree.X",
        "seed": 3,
    }


def test_an_object_as_the_api_server_returns_it_reads_back_typed():
    body = {
        "apiVersion": "ballast.dev/v1alpha1",
        "kind": "ModelVersion",
        "metadata": {
            "name": "iris-0123",
            "namespace": "ml",
            "generation": 2,
            "resourceVersion": "7",
            "managedFields": [{"manager": "ballast"}],
            "finalizers": ["ballast.dev/x"],
        },
        "spec": {"model": "iris", "artifact": {"uri": "file:///store/iris/model.skops", "sha256": "a" * 64}},
        "status": {"observedGeneration": 2, "stage": "Production", "conditions": [condition("Ready", "True")]},
    }
    version = ModelVersion.model_validate(body)
    assert (version.name, version.metadata.resource_version, version.status.stage) == ("iris-0123", "7", "Production")


def test_every_kind_has_its_object_type():
    assert [t.info.kind for t in OBJECT_TYPES] == ["Dataset", "TrainingRun", "ModelVersion", "DriftPolicy"]
    assert all(t.model_fields["kind"].default == t.info.kind for t in OBJECT_TYPES)


# --- errors --------------------------------------------------------------------------------------


def status_body(reason: str, message: str, causes=()) -> str:
    return json.dumps({"kind": "Status", "reason": reason, "message": message, "details": {"causes": list(causes)}})


@pytest.mark.parametrize(
    ("status", "reason", "expected"),
    [
        (404, "NotFound", NotFound),
        (403, "Forbidden", Forbidden),
        (401, "Unauthorized", Forbidden),
        (409, "AlreadyExists", AlreadyExists),
        (409, "Conflict", Conflict),
        (422, "Invalid", Invalid),
        (500, "InternalError", ApiError),
    ],
)
def test_api_refusals_become_one_exception_each(status, reason, expected):
    error = error_from_response(status, status_body(reason, "the server's words"), "Dataset iris in namespace ml")
    assert type(error) is expected and error.status == status
    assert "\n" not in str(error)


def test_not_found_names_the_object():
    assert str(error_from_response(404, "", "Dataset iris in namespace ml")) == "Dataset iris in namespace ml not found"


def test_invalid_lists_each_fields_cause():
    body = status_body(
        "Invalid", 'Dataset.ballast.dev "iris" is invalid', [{"field": "spec.seed", "message": "must be >= 0"}]
    )
    error = error_from_response(422, body, "Dataset iris")
    assert error.causes == ["spec.seed: must be >= 0"] and "is invalid" in str(error)


def test_a_body_that_is_not_json_still_gives_the_exception():
    assert isinstance(error_from_response(403, b"<html>", "x"), Forbidden)


# --- waiting -------------------------------------------------------------------------------------


def a_version(stage: str | None, *conditions: dict, generation: int = 1, observed: int = 1) -> ModelVersion:
    return ModelVersion.model_validate(
        {
            "metadata": {"name": "iris-0123", "generation": generation},
            "spec": {"model": "iris", "artifact": {"uri": "file:///a/model.skops", "sha256": "a" * 64}},
            "status": {
                "observedGeneration": observed,
                "conditions": list(conditions),
                **({"stage": stage} if stage else {}),
            },
        }
    )


def test_a_stage_target_is_reached_only_in_that_stage_and_ready():
    target = Target(stage=Stage.PRODUCTION)
    assert target.reached(a_version("Production", condition("Ready", "True")))
    assert not target.reached(a_version("Canary", condition("Ready", "True")))
    assert not target.reached(a_version("Production", condition("Ready", "False")))
    assert Target(condition=None, stage=Stage.PRODUCTION).reached(a_version("Production"))


def test_work_under_way_is_not_a_failure():
    assert (
        failure(a_version("Canary", condition("Ready", "False", "CanaryInProgress")), Target(stage=Stage.PRODUCTION))
        is None
    )


def test_stalled_is_a_failure_with_its_reason_and_message():
    version = a_version("Candidate", condition("Stalled", "True", "ArtifactMissing", "no model.skops"))
    assert failure(version, Target()) == "Stalled=True (ArtifactMissing): no model.skops"


def test_a_failed_stage_fails_a_wait_for_another_stage_only():
    version = a_version("Failed", condition("Ready", "False", "CanaryFailed", "error rate 0.4"))
    assert "CanaryFailed" in failure(version, Target(stage=Stage.PRODUCTION))
    assert failure(version, Target(condition=None, stage=Stage.FAILED)) is None


def test_succeeded_false_fails_a_wait_for_success_but_not_a_wait_for_failure():
    run = TrainingRun.model_validate(
        {
            "metadata": {"name": "r", "generation": 1},
            "spec": {"model": "iris", "datasetRef": {"name": "iris"}, "estimator": "sklearn.tree.X"},
            "status": {"conditions": [condition("Succeeded", "False", "GateFailed", "accuracy 0.5 < 0.9")]},
        }
    )
    assert "GateFailed" in failure(run, Target(condition="Succeeded"))
    assert failure(run, Target(condition="Succeeded", status="False")) is None


def test_a_status_of_an_older_spec_decides_nothing():
    stale = a_version("Failed", condition("Stalled", "True"), generation=3, observed=2)
    assert failure(stale, Target(stage=Stage.PRODUCTION)) is None
