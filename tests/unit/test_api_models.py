"""The examples are valid under the typed models, and the models refuse what the CRDs refuse."""

import pytest
import yaml
from pydantic import ValidationError

from ballast.api.kinds import ALL_KINDS
from tests.support.kube import REPO

SPEC_MODELS = {kind.kind: kind.spec_model for kind in ALL_KINDS}


def _examples():
    for path in sorted((REPO / "examples").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document and document.get("apiVersion") == "ballast.dev/v1alpha1":
                yield pytest.param(document, id=f"{path.name}:{document['kind']}")


@pytest.mark.parametrize("document", list(_examples()))
def test_examples_validate_and_round_trip(document):
    spec = SPEC_MODELS[document["kind"]].model_validate(document["spec"])
    wire = spec.to_wire()
    assert SPEC_MODELS[document["kind"]].model_validate(wire) == spec


def test_every_kind_has_an_example():
    assert {p.values[0]["kind"] for p in _examples()} == set(SPEC_MODELS)


def test_unknown_fields_are_refused():
    with pytest.raises(ValidationError, match="bogus"):
        SPEC_MODELS["ModelVersion"].model_validate(
            {"model": "m", "artifact": {"uri": "file:///x", "sha256": "a" * 64}, "bogus": 1}
        )


def test_snake_case_names_work_in_python_and_camel_case_on_the_wire():
    spec = SPEC_MODELS["TrainingRun"](
        model="m",
        dataset_ref={"name": "d"},
        estimator="sklearn.linear_model.LogisticRegression",
        active_deadline_seconds=60,
    )
    assert spec.to_wire()["activeDeadlineSeconds"] == 60
    assert spec.to_wire()["datasetRef"] == {"name": "d"}


def test_a_merge_patch_holds_the_assigned_fields_with_none_as_a_deleting_null():
    from datetime import UTC, datetime

    from ballast.api.driftpolicy import CheckResult, DriftPolicyStatus
    from ballast.conditions import at_second

    status = DriftPolicyStatus(observed_generation=3)
    status.score = None
    status.last_evaluation_time = at_second(datetime(2026, 11, 27, 12, 0, 5, 987654, tzinfo=UTC))
    status.checks = [CheckResult(name="featureDrift", verdict="Drift", score=None, threshold=0.2, message="m")]
    assert status.to_merge_patch() == {
        "observedGeneration": 3,
        "score": None,  # a null deletes the field
        "lastEvaluationTime": "2026-11-27T12:00:05Z",  # as rfc3339 writes it: equal, so not written again
        "checks": [{"name": "featureDrift", "verdict": "Drift", "threshold": 0.2, "message": "m"}],
    }  # modelVersion, samples, features, conditions, ...: never assigned, so left as they are


def test_a_merge_patch_of_nothing_assigned_is_empty():
    from ballast.api.driftpolicy import DriftPolicyStatus

    assert DriftPolicyStatus().to_merge_patch() == {}
